package presence

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alo-presence/alo/shared"
)

// statusRig drives a ledger by hand, with a recorder, for the status rules
// of DESIGN §2.
type statusRig struct {
	t   *testing.T
	l   *ledger
	out *recorder
	now time.Time
	// sets are the gateways' session sets, as their publishers keep them.
	sets map[string]*shared.SessionSet
}

func newStatusRig(t *testing.T, policy Policy) *statusRig {
	out := &recorder{}
	l := newLedger(policy, shared.MustSubjects(""), time.Minute, out)
	l.idx.damp = time.Second
	return &statusRig{t: t, l: l, out: out, now: time.Unix(1_800_000_000, 0), sets: map[string]*shared.SessionSet{}}
}

func (r *statusRig) send(gw string, evs ...shared.Event) {
	if r.sets[gw] == nil {
		r.sets[gw] = &shared.SessionSet{}
	}
	for i := range evs {
		r.sets[gw].Apply(&evs[i])
	}
	r.l.apply(&shared.Batch{Gateway: gw, Boot: gw, Events: evs}, r.now)
}

// checkDigests checks that presence's digest of each gateway is the
// gateway's own: status is part of it, and a heartbeat would not resync.
func (r *statusRig) checkDigests() {
	r.t.Helper()
	for gw, set := range r.sets {
		hb := set.Heartbeat()
		if g := r.l.gateways[gw]; g == nil || g.digest != hb.Digest || len(g.sessions) != hb.Sessions {
			r.t.Fatalf("gateway %s: presence's digest differs from the gateway's", gw)
		}
	}
}

func (r *statusRig) open(gw, sid string, uid int64, friends ...int64) {
	r.send(gw, shared.Event{Type: shared.EventOpen, Session: sid, User: uid, Friends: friends})
}

func (r *statusRig) status(gw, sid string, uid int64, s shared.Status, text string) {
	r.now = r.now.Add(time.Millisecond)
	r.send(gw, shared.Event{Type: shared.EventStatus, Session: sid, User: uid, Status: s, Text: text, StatusAt: r.now.UnixNano()})
}

// take returns the notes since the last take.
func (r *statusRig) take() []string {
	n := r.out.notes
	r.out.notes = nil
	return n
}

func (r *statusRig) expect(want ...string) {
	r.t.Helper()
	if got := r.take(); !slices.Equal(got, want) {
		r.t.Fatalf("notes:\n got %q\nwant %q", got, want)
	}
}

func (r *statusRig) flush(after time.Duration) {
	r.now = r.now.Add(after)
	r.l.idx.now = r.now
	r.l.idx.flushDamped()
}

func TestStatusChangesReachWatchers(t *testing.T) {
	r := newStatusRig(t, PolicyWatchers)
	r.open("g", "w", 1, 2)
	r.take()
	r.open("g", "x", 2)
	r.expect(`1:{"user_id":2,"online":true}`) // v1 bytes: nothing set
	r.now = r.now.Add(2 * time.Second)
	r.status("g", "x", 2, shared.StatusAway, "in a meeting")
	r.expect(`1:{"user_id":2,"online":true,"status":"away","text":"in a meeting"}`)
	r.flush(2 * time.Second)
	r.status("g", "x", 2, shared.StatusOnline, "")
	r.expect(`1:{"user_id":2,"online":true}`) // plain again: v1 bytes
	// A snapshot carries the status.
	r.flush(2 * time.Second)
	r.status("g", "x", 2, shared.StatusDND, "")
	r.take()
	r.open("g", "w2", 3, 2)
	r.checkDigests()
	st := r.out.states[len(r.out.states)-1]
	if got := string(shared.AppendPresence(nil, 2, st.Presence(2, true))); !slices.Equal(st.Online, []int64{2}) || got != `{"user_id":2,"online":true,"status":"dnd"}` {
		t.Fatalf("snapshot %+v reads %s", st, got)
	}
}

func TestStatusFlapDamping(t *testing.T) {
	r := newStatusRig(t, PolicyWatchers)
	r.open("g", "w", 1, 2)
	r.open("g", "x", 2)
	r.flush(2 * time.Second)
	r.take()
	r.status("g", "x", 2, shared.StatusAway, "1")
	r.expect(`1:{"user_id":2,"online":true,"status":"away","text":"1"}`)
	for i := range 50 {
		r.status("g", "x", 2, shared.StatusDND, strings.Repeat("x", i%5))
	}
	r.status("g", "x", 2, shared.StatusAway, "last")
	r.expect() // held
	if due, ok := r.l.idx.nextDamped(); !ok || due.Sub(r.now) > time.Second {
		t.Fatalf("damped until %v (ok %v), now %v", due, ok, r.now)
	}
	r.flush(time.Second)
	r.expect(`1:{"user_id":2,"online":true,"status":"away","text":"last"}`)
	// Changed and changed back within the window: nothing to send.
	r.status("g", "x", 2, shared.StatusDND, "")
	r.status("g", "x", 2, shared.StatusAway, "last")
	r.flush(time.Second)
	r.expect()
	// A pending change is dropped by going invisible: the watcher sees a
	// leave, and nothing after it.
	r.flush(2 * time.Second)
	r.status("g", "x", 2, shared.StatusDND, "a")
	r.status("g", "x", 2, shared.StatusDND, "b")
	r.status("g", "x", 2, shared.StatusInvisible, "")
	r.flush(2 * time.Second)
	notes := r.take()
	if len(notes) != 2 || !strings.HasPrefix(notes[1], `1:{"user_id":2,"online":false,"last_seen":`) {
		t.Fatalf("notes %q; want the first dnd, then a leave", notes)
	}
}

// Invisible is a leave, byte for byte, last seen included, in a snapshot
// too; leaving it is coming online; the invisible user still hears friends.
func TestInvisibleLooksLikeLeaving(t *testing.T) {
	leave := func(invisible bool) []string {
		r := newStatusRig(t, PolicyWatchers)
		r.open("g", "w", 1, 2)
		r.open("g", "x", 2, 1)
		r.take()
		r.now = r.now.Add(time.Minute)
		if invisible {
			r.send("g", shared.Event{Type: shared.EventStatus, Session: "x", User: 2, Status: shared.StatusInvisible, StatusAt: r.now.UnixNano()})
		} else {
			r.send("g", shared.Event{Type: shared.EventClose, Session: "x"})
		}
		notes := r.take()
		// A new watcher's snapshot, and an old one's friend-list update.
		r.now = r.now.Add(time.Minute)
		r.open("g", "w2", 3, 2)
		r.send("g", shared.Event{Type: shared.EventUpdate, Session: "w", User: 1})
		r.send("g", shared.Event{Type: shared.EventUpdate, Session: "w", User: 1, Friends: []int64{2}})
		notes = append(notes, r.take()...)
		for _, st := range r.out.states {
			notes = append(notes, string(shared.AppendPresence(nil, 0, st.Presence(2, slices.Contains(st.Online, 2)))))
		}
		return notes
	}
	real, invisible := leave(false), leave(true)
	if !slices.Equal(real, invisible) {
		t.Fatalf("invisible differs from leaving:\n   leave %q\ninvisible %q", real, invisible)
	}
	if len(real) < 2 || !strings.Contains(real[0], `"last_seen":"2027-01-15T08:01:00Z"`) {
		t.Fatalf("leave %q: want last_seen frozen at the moment", real)
	}

	r := newStatusRig(t, PolicyWatchers)
	r.open("g", "x", 2, 1)
	r.send("g", shared.Event{Type: shared.EventStatus, Session: "x", User: 2, Status: shared.StatusInvisible, StatusAt: 1})
	r.take()
	r.open("g", "w", 1, 2)
	r.expect(`2:{"user_id":1,"online":true}`) // the invisible user still hears
	r.send("g", shared.Event{Type: shared.EventClose, Session: "w"})
	r.expect(`2:{"user_id":1,"online":false,"last_seen":"2027-01-15T08:00:00Z"}`)
	r.open("g", "w", 1, 2)
	r.take()
	r.now = r.now.Add(time.Minute)
	r.send("g", shared.Event{Type: shared.EventStatus, Session: "x", User: 2, Status: shared.StatusAway, Text: "back", StatusAt: 2})
	r.expect(`1:{"user_id":2,"online":true,"status":"away","text":"back"}`) // undamped: a transition
	// An invisible user who leaves for real tells nobody, and keeps the
	// last seen of going invisible.
	r.send("g", shared.Event{Type: shared.EventStatus, Session: "x", User: 2, Status: shared.StatusInvisible, StatusAt: 3})
	r.take()
	r.now = r.now.Add(time.Hour)
	r.send("g", shared.Event{Type: shared.EventClose, Session: "x"})
	r.expect()
	if ls, _ := r.l.idx.lastSeen.LastSeen(2); !ls.Equal(r.now.Add(-time.Hour)) {
		t.Fatalf("last seen %v; want frozen at going invisible, %v", ls, r.now.Add(-time.Hour))
	}
}

// Under mutual, an invisible user who drops a friend tells them nothing: a
// user who is offline could not have.
func TestInvisibleMutualDrop(t *testing.T) {
	r := newStatusRig(t, PolicyMutual)
	r.open("g", "w", 1, 2)
	r.open("g", "x", 2, 1)
	r.send("g", shared.Event{Type: shared.EventStatus, Session: "x", User: 2, Status: shared.StatusInvisible, StatusAt: 1})
	r.take()
	r.send("g", shared.Event{Type: shared.EventUpdate, Session: "x", User: 2})
	r.expect()
	r.send("g", shared.Event{Type: shared.EventUpdate, Session: "x", User: 2, Friends: []int64{1}})
	r.expect(`2:{"user_id":1,"online":true}`) // x sees w again; w sees nothing
}

// The status set last by StatusAt wins, whatever order the events from two
// gateways arrive in, and among open sessions only.
func TestStatusLastSetWinsAcrossGateways(t *testing.T) {
	for _, order := range [][2]string{{"a", "b"}, {"b", "a"}} {
		r := newStatusRig(t, PolicyWatchers)
		r.open("a", "sa", 2)
		r.open("b", "sb", 2)
		r.open("a", "w", 1, 2)
		evs := map[string]shared.Event{
			"a": {Type: shared.EventStatus, Session: "sa", User: 2, Status: shared.StatusAway, StatusAt: 10},
			"b": {Type: shared.EventStatus, Session: "sb", User: 2, Status: shared.StatusDND, StatusAt: 20},
		}
		for _, gw := range order {
			r.send(gw, evs[gw])
		}
		if u := r.l.idx.users[2]; u.status != shared.StatusDND {
			t.Fatalf("order %v: status %v; want dnd, set last", order, u.status)
		}
		r.checkDigests()
		r.send("b", shared.Event{Type: shared.EventClose, Session: "sb"})
		r.checkDigests()
		if u := r.l.idx.users[2]; u.status != shared.StatusAway {
			t.Fatalf("order %v: after sb closed, status %v; want away, sa's", order, u.status)
		}
	}
}

// A rebuild never announces an invisible user, keeps statuses, and corrects
// exactly the statuses a session holds wrong: set, changed or cleared while
// presence could not tell anyone.
func TestStatusSurvivesRebuild(t *testing.T) {
	r := newStatusRig(t, PolicyWatchers)
	r.l.beginRebuild()
	told := []shared.FriendPresence{{User: 4, Status: shared.StatusAway}, {User: 5, Status: shared.StatusDND, Text: "x"}}
	r.send("g", shared.Event{Type: shared.EventSyncBegin, Gen: 1},
		shared.Event{Type: shared.EventOpen, Sync: true, Gen: 1, Session: "w", User: 1, Friends: []int64{2, 3, 4, 5},
			Known: []int64{3, 4, 5}, KnownStatus: told, Ready: true},
		shared.Event{Type: shared.EventOpen, Sync: true, Gen: 1, Session: "x", User: 2, Status: shared.StatusInvisible, StatusAt: 5, Ready: true},
		shared.Event{Type: shared.EventOpen, Sync: true, Gen: 1, Session: "y", User: 3, Status: shared.StatusAway, Text: "t", StatusAt: 6, Ready: true},
		shared.Event{Type: shared.EventOpen, Sync: true, Gen: 1, Session: "z", User: 4, Ready: true},                                                   // cleared
		shared.Event{Type: shared.EventOpen, Sync: true, Gen: 1, Session: "v", User: 5, Status: shared.StatusDND, Text: "x", StatusAt: 7, Ready: true}, // unchanged
		shared.Event{Type: shared.EventSyncEnd, Gen: 1})
	r.l.finishRebuild()
	r.expect()
	var w *shared.SessionState
	for i := range r.out.states {
		if r.out.states[i].Session == "w" {
			w = &r.out.states[i]
		}
	}
	if w == nil || !slices.Equal(w.Online, []int64{3, 4}) || len(w.Offline) != 0 ||
		string(shared.AppendPresence(nil, 3, w.Presence(3, true))) != `{"user_id":3,"online":true,"status":"away","text":"t"}` ||
		string(shared.AppendPresence(nil, 4, w.Presence(4, true))) != `{"user_id":4,"online":true}` {
		t.Fatalf("w's corrections %+v; want 3 away, 4 plain, not 2 (invisible) nor 5 (unchanged)", w)
	}
}

func TestBadStatusEventsChangeNothing(t *testing.T) {
	r := newStatusRig(t, PolicyWatchers)
	r.open("g", "w", 1, 2)
	r.open("g", "x", 2)
	r.take()
	digest := r.l.gateways["g"].digest
	for _, ev := range []shared.Event{
		{Type: shared.EventStatus, Session: "x", User: 2, Status: 9, StatusAt: 1},
		{Type: shared.EventStatus, Session: "x", User: 2, Status: shared.StatusAway, Text: "a\nb", StatusAt: 1},
		{Type: shared.EventStatus, Session: "x", User: 2, Status: shared.StatusAway, Text: strings.Repeat("é", 129), StatusAt: 1},
		{Type: shared.EventStatus, Session: "x", User: 2, Status: shared.StatusAway},
		{Type: shared.EventStatus, Session: "x", User: 3, Status: shared.StatusAway, StatusAt: 1},
		{Type: shared.EventStatus, Session: "nope", User: 2, Status: shared.StatusAway, StatusAt: 1},
		{Type: shared.EventOpen, Session: "z", User: 4, Status: shared.StatusAway},
	} {
		r.send("g", ev)
	}
	r.expect()
	if r.l.gateways["g"].digest != digest || r.l.idx.users[2].status != shared.StatusOnline || r.l.idx.users[4] != nil {
		t.Fatal("a bad status event changed the state")
	}
}
