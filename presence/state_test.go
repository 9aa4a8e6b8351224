package presence

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alo-presence/alo/shared"
)

// The property test drives the state machine with random sequences of
// session opens, closes, friend-list updates, heartbeats, lost events,
// gateway deaths and expiries, resyncs and presence restarts. A model plays
// the gateways: it knows the true sessions and applies what presence emits
// to each session's view, as a gateway would. Whenever the system should have
// converged, every ready session's view of each friend must match the truth,
// status and text included (an invisible friend is offline); while no event
// was lost, no session may be told the same state twice about a friend it
// kept listing, nor an online friend offline.

type mSession struct {
	id      string
	user    int64
	friends []int64
	ready   bool
	view    map[int64]bool // friend → last state told
	fresh   map[int64]bool // told since last (re)listed: a repeat would be a duplicate
	// told is the status and text last told of each friend told online.
	told map[int64]statusText
	// The status the session set, and when (0: never).
	status   shared.Status
	text     string
	statusAt int64
}

type statusText struct {
	status shared.Status
	text   string
}

type mGateway struct {
	id, boot  string
	sessions  map[string]*mSession
	announced shared.SessionSet // as the gateway's publisher keeps it
	gen       uint64
	next      int
}

type model struct {
	unions   map[int64][]int64 // each user's friends, as of the last step
	t        *testing.T
	rng      *rand.Rand
	policy   Policy
	st       *ledger
	now      time.Time
	gateways map[string]*mGateway
	syncs    map[string]bool // resyncs asked for and not yet done
	lossy    bool            // an event was lost since the last full resync
	log      []string
	stamp    int64 // the gateways' clock for statuses, shared as NTP would make it
	// flushing is set while damped status changes go out: one may repeat
	// what a session's snapshot, taken meanwhile, already said (harmless,
	// and presence cannot know per session).
	flushing bool
}

// flushDamped sends the damped status changes due by now.
func (m *model) flushDamped() {
	m.flushing = true
	m.log = append(m.log, "flush damped")
	m.st.idx.now = m.now
	m.st.idx.flushDamped()
	m.flushing = false
}

// modelDamp is the damping the model runs presence with.
const modelDamp = 300 * time.Millisecond

func (m *model) notify(to *user, about int64, p shared.Presence) {
	m.log = append(m.log, fmt.Sprintf("  notify %d: %s", to.id, shared.AppendPresence(nil, about, p)))
	for _, g := range m.gateways {
		for _, s := range g.sessions {
			if s.user == to.id && s.ready {
				m.tell(s, about, p)
			}
		}
	}
}

func (m *model) session(gw string, st shared.SessionState) {
	m.log = append(m.log, fmt.Sprintf("  session %s: %+v", gw, st))
	g := m.gateways[gw]
	if g == nil {
		return
	}
	s := g.sessions[st.Session]
	if s == nil {
		return
	}
	for _, f := range st.Online {
		m.tell(s, f, st.Presence(f, true))
	}
	for _, f := range st.Offline {
		m.tell(s, f, st.Presence(f, false))
	}
	s.ready = true
}

func (m *model) askSync(gw string) { m.syncs[gw] = true }

func (m *model) tell(s *mSession, about int64, p shared.Presence) {
	online := p.Online
	if !online && !m.lossy && shared.Contains(s.friends, about) {
		// Presence knows everything the gateways hold: an offline about
		// a friend this session may see online is false.
		on, friends, _ := m.truth()
		if on[about] && (m.policy == PolicyWatchers || shared.Contains(friends[about], s.user)) {
			m.t.Fatalf("session %s of %d told %d offline, but it is online\n%s", s.id, s.user, about, m.history())
		}
	}
	st := statusText{p.Status, p.Text}
	if !m.lossy && !(m.flushing && online) && s.fresh[about] && s.view[about] == online && (!online || s.told[about] == st) && shared.Contains(s.friends, about) {
		m.t.Fatalf("session %s of %d told %d online=%v %v twice\n%s", s.id, s.user, about, online, st, m.history())
	}
	s.view[about] = online
	s.fresh[about] = true
	if online {
		s.told[about] = st
	} else {
		delete(s.told, about)
	}
}

func (m *model) history() string {
	start := max(0, len(m.log)-40)
	out := ""
	for _, l := range m.log[start:] {
		out += "  " + l + "\n"
	}
	return out
}

// send delivers a batch from g to presence, unless lose is set.
func (m *model) send(g *mGateway, lose bool, evs ...shared.Event) {
	for i := range evs {
		g.announced.Apply(&evs[i])
	}
	if lose {
		m.lossy = true
		m.log = append(m.log, fmt.Sprintf("LOST %s %v", g.id, evs))
		return
	}
	m.log = append(m.log, fmt.Sprintf("%s %v", g.id, evs))
	m.st.apply(&shared.Batch{Gateway: g.id, Boot: g.boot, Events: evs}, m.now)
}

func (m *model) randomFriends() []int64 {
	var f []int64
	for range m.rng.IntN(4) {
		f = append(f, 1+m.rng.Int64N(6))
	}
	return f
}

// resyncEvents returns a resend of g's sessions, as its publisher makes it.
func (m *model) resyncEvents(g *mGateway) []shared.Event {
	g.gen++
	evs := []shared.Event{{Type: shared.EventSyncBegin, Gen: g.gen}}
	for _, id := range slices.Sorted(maps.Keys(g.sessions)) {
		s := g.sessions[id]
		var known []int64
		for f, on := range s.view {
			if on {
				known = append(known, f)
			}
		}
		slices.Sort(known)
		var told []shared.FriendPresence
		for _, f := range known {
			if st := s.told[f]; st != (statusText{}) {
				told = append(told, shared.FriendPresence{User: f, Status: st.status, Text: st.text})
			}
		}
		evs = append(evs, shared.Event{Type: shared.EventOpen, Sync: true, Gen: g.gen, Session: s.id,
			User: s.user, Friends: slices.Clone(s.friends), Known: known, KnownStatus: told, Ready: s.ready,
			Status: s.status, Text: s.text, StatusAt: s.statusAt})
	}
	return append(evs, shared.Event{Type: shared.EventSyncEnd, Gen: g.gen})
}

func (m *model) resync(g *mGateway) {
	m.send(g, false, m.resyncEvents(g)...)
	delete(m.syncs, g.id)
}

// step performs one random action.
func (m *model) step() {
	ids := slices.Sorted(maps.Keys(m.gateways))
	g := m.gateways[ids[m.rng.IntN(len(ids))]]
	switch r := m.rng.IntN(100); {
	case r < 80:
		m.live(g, r)
	case r < 88: // heartbeats from everyone, and the resyncs they ask for
		m.heartbeats()
	case r < 92: // a gateway dies and its lease runs out; it may come back
		delete(m.gateways, g.id)
		m.now = m.now.Add(time.Second)
		for _, og := range m.gateways {
			og := og
			m.send(og, false, og.announced.Heartbeat())
		}
		m.now = m.now.Add(time.Second)
		m.st.expire(m.now)
		m.log = append(m.log, "expired "+g.id)
		if m.rng.IntN(2) == 0 {
			m.gateways[g.id] = &mGateway{id: g.id, boot: g.boot + "r", sessions: map[string]*mSession{}}
		}
	case r < 95: // presence restarts: everything is rebuilt from the gateways
		m.restart()
	default: // the clock moves a little, and damped statuses may go out
		m.now = m.now.Add(100 * time.Millisecond)
		m.flushDamped()
	}
}

// live performs a client's action on g: r < 35 opens a session, r < 60
// closes one, and otherwise a session changes its friend list. One in twenty
// is lost on the way to presence.
func (m *model) live(g *mGateway, r int) {
	lose := m.rng.IntN(20) == 0
	var sessions []*mSession
	for _, id := range slices.Sorted(maps.Keys(g.sessions)) {
		sessions = append(sessions, g.sessions[id])
	}
	switch {
	case r < 35 || len(sessions) == 0: // open
		g.next++
		s := &mSession{id: fmt.Sprintf("%s-%d", g.boot, g.next), user: 1 + m.rng.Int64N(6),
			view: map[int64]bool{}, fresh: map[int64]bool{}, told: map[int64]statusText{}}
		s.friends = shared.NormalizeFriends(m.randomFriends(), s.user)
		ev := shared.Event{Type: shared.EventOpen, Session: s.id, User: s.user, Friends: slices.Clone(s.friends)}
		if m.rng.IntN(4) == 0 { // a hello with a status
			m.setStatus(s)
			ev.Status, ev.Text, ev.StatusAt = s.status, s.text, s.statusAt
		}
		g.sessions[s.id] = s
		m.send(g, lose, ev)
	case r < 60: // close
		s := sessions[m.rng.IntN(len(sessions))]
		delete(g.sessions, s.id)
		m.send(g, lose, shared.Event{Type: shared.EventClose, Session: s.id, User: s.user})
	case r < 70: // status
		s := sessions[m.rng.IntN(len(sessions))]
		m.setStatus(s)
		m.send(g, lose, shared.Event{Type: shared.EventStatus, Session: s.id, User: s.user, Status: s.status, Text: s.text, StatusAt: s.statusAt})
	case r < 80: // friend-list update
		s := sessions[m.rng.IntN(len(sessions))]
		s.friends = shared.NormalizeFriends(m.randomFriends(), s.user)
		m.send(g, lose, shared.Event{Type: shared.EventUpdate, Session: s.id, User: s.user, Friends: slices.Clone(s.friends)})
	}
}

// setStatus gives s a random status, set now.
func (m *model) setStatus(s *mSession) {
	m.stamp++
	s.status = shared.Status(m.rng.IntN(4))
	s.text = []string{"", "", "a", "b"}[m.rng.IntN(4)]
	s.statusAt = m.stamp
}

func (m *model) heartbeats() {
	m.now = m.now.Add(200 * time.Millisecond)
	for _, id := range slices.Sorted(maps.Keys(m.gateways)) {
		g := m.gateways[id]
		m.send(g, false, g.announced.Heartbeat())
	}
	for _, id := range slices.Sorted(maps.Keys(m.syncs)) {
		if g := m.gateways[id]; g != nil {
			m.resync(g)
			// A gateway may resend twice: presence asked again, or it
			// reconnected meanwhile.
			if m.rng.IntN(4) == 0 {
				m.resync(g)
			}
		}
	}
}

// restart restarts presence: every gateway resends its sessions, some of
// them twice, each resend cut into batches that interleave with the other
// gateways' batches, their heartbeats and their clients' actions, until the
// rebuild window ends.
func (m *model) restart() {
	m.log = append(m.log, "presence restart")
	m.st = newLedger(m.policy, m.st.idx.subjects, m.st.lease, m)
	m.st.idx.damp = modelDamp
	m.st.beginRebuild()
	m.syncs = map[string]bool{}
	type resend struct {
		times  int              // resends still to start
		chunks [][]shared.Event // the batches of the one under way
	}
	resends := map[string]*resend{}
	for id := range m.gateways {
		resends[id] = &resend{times: 1 + m.rng.IntN(3)/2}
	}
	m.lossy = false // what was lost before is in the resends
	for len(resends) > 0 {
		ids := slices.Sorted(maps.Keys(m.gateways))
		g := m.gateways[ids[m.rng.IntN(len(ids))]]
		r := resends[g.id]
		busy := r != nil && len(r.chunks) > 0 // its publisher is in a resend
		switch x := m.rng.IntN(10); {
		case x < 2 && !busy: // a client acts meanwhile
			m.live(g, m.rng.IntN(80))
		case x < 3: // heartbeats from every gateway not in a resend
			m.now = m.now.Add(200 * time.Millisecond)
			for _, id := range ids {
				if r := resends[id]; r == nil || len(r.chunks) == 0 {
					m.send(m.gateways[id], false, m.gateways[id].announced.Heartbeat())
				}
			}
			for id := range m.syncs {
				if resends[id] == nil {
					resends[id] = &resend{}
				}
				resends[id].times++
				delete(m.syncs, id)
			}
		case r == nil:
		case !busy: // g starts a resend
			evs := m.resyncEvents(g)
			for len(evs) > 0 {
				n := min(len(evs), 1+m.rng.IntN(3))
				r.chunks = append(r.chunks, evs[:n])
				evs = evs[n:]
			}
			r.times--
		default: // g sends the next batch of its resend
			m.send(g, false, r.chunks[0]...)
			r.chunks = r.chunks[1:]
			if len(r.chunks) == 0 && r.times == 0 {
				delete(resends, g.id)
			}
		}
	}
	m.st.finishRebuild()
}

// settle brings the system to where it must have converged: heartbeats
// until no resync is pending, with no loss meanwhile.
func (m *model) settle() {
	for range 5 {
		m.heartbeats()
		if len(m.syncs) == 0 {
			break
		}
	}
	// Damped status changes go out once their interval has passed.
	m.now = m.now.Add(modelDamp + time.Millisecond)
	m.flushDamped()
	m.lossy = false
}

// truth returns who watchers see online (online and not invisible), each
// online user's friends (the union of the lists of their sessions), and the
// status of each: the one set last among their sessions.
func (m *model) truth() (map[int64]bool, map[int64][]int64, map[int64]statusText) {
	online := map[int64]bool{}
	friends := map[int64][]int64{}
	last := map[int64]*mSession{}
	for _, g := range m.gateways {
		for _, s := range g.sessions {
			online[s.user] = true
			friends[s.user] = append(friends[s.user], s.friends...)
			if b := last[s.user]; s.statusAt != 0 && (b == nil || s.statusAt > b.statusAt) {
				last[s.user] = s
			}
		}
	}
	status := map[int64]statusText{}
	for u, s := range last {
		status[u] = statusText{s.status, s.text}
		if s.status == shared.StatusInvisible {
			delete(online, u)
		}
	}
	for u, f := range friends {
		slices.Sort(f)
		friends[u] = slices.Compact(f)
	}
	return online, friends, status
}

// forget clears the duplicate check for friends that left a user's list: a
// later message about them is news again.
func (m *model) forget() {
	_, friends, _ := m.truth()
	for _, g := range m.gateways {
		for _, s := range g.sessions {
			for f := range s.fresh {
				if !shared.Contains(friends[s.user], f) || !shared.Contains(m.unions[s.user], f) {
					delete(s.fresh, f)
				}
			}
		}
	}
	m.unions = friends
}

// check compares every session's view with the truth.
func (m *model) check() {
	online, friends, status := m.truth()
	for _, g := range m.gateways {
		for _, s := range g.sessions {
			if !s.ready {
				m.t.Fatalf("session %s of %d never got ready\n%s", s.id, s.user, m.history())
			}
			for _, f := range friends[s.user] {
				want := online[f] && (m.policy == PolicyWatchers || shared.Contains(friends[f], s.user))
				if s.view[f] != want {
					m.t.Fatalf("session %s of %d (friends %v) believes %d online=%v, truth %v\n%s",
						s.id, s.user, friends[s.user], f, s.view[f], want, m.history())
				}
				if want && s.told[f] != status[f] {
					m.t.Fatalf("session %s of %d believes %d has status %v, truth %v\n%s",
						s.id, s.user, f, s.told[f], status[f], m.history())
				}
			}
		}
	}
}

// seeds is how many random runs TestStateMachineProperty makes per policy;
// run it with -seeds 3000 after changing the state machine.
var seeds = flag.Uint64("seeds", 300, "random runs of TestStateMachineProperty per policy")

func TestStateMachineProperty(t *testing.T) {
	for _, policy := range []Policy{PolicyWatchers, PolicyMutual} {
		for seed := range *seeds {
			m := &model{t: t, rng: rand.New(rand.NewPCG(seed, uint64(policy))), policy: policy,
				now: time.Unix(0, 0), gateways: map[string]*mGateway{}, syncs: map[string]bool{}}
			m.st = newLedger(policy, shared.MustSubjects(""), time.Second, m)
			m.st.idx.damp = modelDamp
			for i := range 3 {
				id := fmt.Sprintf("g%d", i)
				m.gateways[id] = &mGateway{id: id, boot: id + "b", sessions: map[string]*mSession{}}
			}
			for range 200 {
				m.forget()
				m.step()
				if len(m.gateways) == 0 {
					m.gateways["g9"] = &mGateway{id: "g9", boot: "g9b", sessions: map[string]*mSession{}}
				}
				if m.rng.IntN(10) == 0 {
					m.settle()
					m.check()
				}
			}
			m.settle()
			m.check()
		}
	}
}

// recorder keeps what the state machine emits, to test it step by step.
type recorder struct {
	notes  []string
	states []shared.SessionState
}

func (r *recorder) notify(to *user, about int64, p shared.Presence) {
	r.notes = append(r.notes, fmt.Sprintf("%d:%s", to.id, shared.AppendPresence(nil, about, p)))
}
func (r *recorder) session(_ string, st shared.SessionState) { r.states = append(r.states, st) }
func (r *recorder) askSync(string)                           {}

// TestRebuildDoubleResend is issue 9's defect 1: during a rebuild, a gateway
// that resends twice before another gateway has resent must not make
// presence correct its sessions against a partial view, which told user 1
// that user 2 (on the other gateway, never gone) was offline.
func TestRebuildDoubleResend(t *testing.T) {
	out := &recorder{}
	l := newLedger(PolicyWatchers, shared.MustSubjects(""), time.Second, out)
	l.beginRebuild()
	now := time.Unix(0, 0)
	resend := func(gw string, gen uint64, sid string, uid, friend int64) {
		l.apply(&shared.Batch{Gateway: gw, Boot: gw, Events: []shared.Event{
			{Type: shared.EventSyncBegin, Gen: gen},
			{Type: shared.EventOpen, Sync: true, Gen: gen, Session: sid, User: uid, Friends: []int64{friend}, Known: []int64{friend}, Ready: true},
			{Type: shared.EventSyncEnd, Gen: gen},
		}}, now)
	}
	resend("g1", 1, "s1", 1, 2)
	resend("g1", 2, "s1", 1, 2) // again, before g2 has resent
	if len(out.states) > 0 || len(out.notes) > 0 {
		t.Fatalf("presence spoke during the rebuild: states %v, notes %v", out.states, out.notes)
	}
	resend("g2", 1, "s2", 2, 1)
	l.finishRebuild()
	// Both sessions already know the truth: nothing to correct.
	if len(out.states) > 0 || len(out.notes) > 0 {
		t.Fatalf("corrections after the rebuild: states %v, notes %v; want none", out.states, out.notes)
	}
}

// Two gateways with one id (issue 9, defect 5): a new boot is a restart, as
// before, but when the superseded boot speaks again within the lease it is
// a second gateway, logged as an error naming both boots, and its batches
// are ignored: the users of the boot that holds the id do not flap. Before,
// every batch from the other boot dropped and rebuilt the gateway's users.
func TestDuplicateGatewayID(t *testing.T) {
	var logs bytes.Buffer
	out := &recorder{}
	l := newLedger(PolicyWatchers, shared.MustSubjects(""), time.Second, out)
	l.log = shared.NewRateLog(slog.New(slog.NewTextHandler(&logs, nil)), 0)
	now := time.Unix(0, 0)
	send := func(gw, boot string, evs ...shared.Event) {
		l.apply(&shared.Batch{Gateway: gw, Boot: boot, Events: evs}, now)
	}
	send("w", "wb", shared.Event{Type: shared.EventOpen, Session: "w1", User: 2, Friends: []int64{1}})
	send("g", "old", shared.Event{Type: shared.EventOpen, Session: "o1", User: 1})
	send("g", "new", shared.Event{Type: shared.EventOpen, Session: "n1", User: 1}) // a restart, as far as anyone can tell
	out.notes = nil
	for range 10 {
		now = now.Add(200 * time.Millisecond)
		send("g", "old", shared.Event{Type: shared.EventHeartbeat, Sessions: 1})
		send("g", "new", shared.Event{Type: shared.EventHeartbeat, Sessions: 1, Digest: l.gateways["g"].digest})
		send("w", "wb", shared.Event{Type: shared.EventHeartbeat, Sessions: 1, Digest: l.gateways["w"].digest})
	}
	if len(out.notes) > 0 {
		t.Fatalf("the watcher was told %v while two boots shared an id", out.notes)
	}
	if g := l.gateways["g"]; g.boot != "new" || len(g.sessions) != 1 || g.sessions["n1"] == nil {
		t.Fatalf("gateway g holds boot %s with %d sessions; want the new boot's", g.boot, len(g.sessions))
	}
	if s := logs.String(); !strings.Contains(s, "level=ERROR") || !strings.Contains(s, "boot=new") || !strings.Contains(s, "superseded_boot=old") {
		t.Fatalf("no error naming both boots:\n%s", s)
	}
	// A boot silent for longer than the lease that comes back is a restart
	// again (its id was handed over long ago).
	now = now.Add(2 * time.Second)
	send("g", "old", shared.Event{Type: shared.EventOpen, Session: "o2", User: 5})
	if g := l.gateways["g"]; g.boot != "old" {
		t.Fatalf("a boot back after the lease is not taken as a restart: boot %s", g.boot)
	}
}
