package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// The status rules of DESIGN §2 (issue 13), over every transport.

// expectRaw reads the next message and checks its exact bytes.
func expectRaw(t *testing.T, c peer, want string) alotest.Msg {
	t.Helper()
	m := c.Next()
	if m.Raw != want {
		t.Fatalf("got %s, want %s", m.Raw, want)
	}
	return m
}

var lastSeenRe = regexp.MustCompile(`"last_seen":"([^"]*)"`)

// expectLeave reads an offline message for user with a last seen between
// from and to (to the second), and returns its bytes.
func expectLeave(t *testing.T, c peer, user int64, from, to time.Time) string {
	t.Helper()
	m := c.Next()
	sub := lastSeenRe.FindStringSubmatch(m.Raw)
	if !m.IsState() || *m.UserID != user || *m.Online || sub == nil {
		t.Fatalf("got %s, want user %d offline with last_seen", m.Raw, user)
	}
	at, err := time.Parse(shared.LastSeenLayout, sub[1])
	if err != nil || at.Before(from.Truncate(time.Second)) || at.After(to) {
		t.Fatalf("last_seen %s (%v) not within [%v, %v]", sub[1], err, from, to)
	}
	if want := fmt.Sprintf(`{"user_id":%d,"online":false,"last_seen":"%s"}`, user, sub[1]); m.Raw != want {
		t.Fatalf("got %s, want %s", m.Raw, want)
	}
	return m.Raw
}

// Each status and text change reaches every session of every watcher once,
// in order; plain status is v1's bytes; the hello's status is the first.
func TestTransportStatusChanges(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		a := allTransports(t, presence.Config{StatusInterval: -1}) // no damping: every change
		w1, _ := tr.connect(t, a, 1, 2, barrierUser)
		w2, _ := tr.connect(t, a, 1, 2, barrierUser) // a second session of the watcher
		w3, _ := tr.connect(t, a, 3, 2, barrierUser)
		x, _ := tr.connect(t, a, 2)
		watchers := []member{w1, w2, w3}
		for _, w := range watchers {
			expectRaw(t, w, `{"user_id":2,"online":true}`)
		}
		steps := []struct{ send, want string }{
			{`{"status":"away","text":"in a meeting"}`, `{"user_id":2,"online":true,"status":"away","text":"in a meeting"}`},
			{`{"status":"dnd"}`, `{"user_id":2,"online":true,"status":"dnd"}`},
			{`{"status":"dnd","text":"focus ✍️ \"deep\""}`, `{"user_id":2,"online":true,"status":"dnd","text":"focus ✍️ \"deep\""}`},
			{`{"status":"online","text":"back"}`, `{"user_id":2,"online":true,"text":"back"}`},
			{`{"status":"online"}`, `{"user_id":2,"online":true}`}, // plain again: v1's bytes
		}
		for _, s := range steps {
			x.Send(s.send)
		}
		for _, w := range watchers {
			for _, s := range steps {
				expectRaw(t, w, s.want)
			}
		}
		// The hello's status is the user's from the start, snapshot too.
		y := alotest.Dial(t, a.TCP)
		y.Send(`{"user_id":4,"friends":[],"status":"away","text":"hi"}`)
		y.AwaitReady()
		w4 := alotest.Dial(t, a.TCP)
		w4.Send(alotest.Hello(5, 4))
		expectRaw(t, w4, `{"user_id":4,"online":true,"status":"away","text":"hi"}`)
		if m := w4.Next(); !m.Ready {
			t.Fatalf("got %s, want ready", m.Raw)
		}
		barrierAll(t, a, watchers...)
	})
}

// Invisible looks like leaving, byte for byte, to watchers old and new;
// the invisible user still hears friends; leaving invisible is online.
func TestTransportInvisible(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		a := allTransports(t, presence.Config{})
		w, _ := tr.connect(t, a, 1, 2, 3, barrierUser)
		// A real leave, for comparison.
		r, _ := tr.connect(t, a, 3)
		expectRaw(t, w, `{"user_id":3,"online":true}`)
		from := time.Now()
		r.Send(`{"online":false}`)
		r.ExpectClosed()
		leave := expectLeave(t, w, 3, from, time.Now())

		x, _ := tr.connect(t, a, 2, 1, 6)
		expectRaw(t, w, `{"user_id":2,"online":true}`)
		from = time.Now()
		x.Send(`{"status":"invisible"}`)
		invisible := expectLeave(t, w, 2, from, time.Now())
		// The same bytes as 3's real leave, but for the id and the time.
		mask := func(m string, id int64) string {
			return strings.Replace(lastSeenRe.ReplaceAllString(m, `"last_seen":"T"`), fmt.Sprintf(`"user_id":%d,`, id), `"user_id":ID,`, 1)
		}
		if mask(invisible, 2) != mask(leave, 3) {
			t.Fatalf("invisible %s differs from the leave %s", invisible, leave)
		}
		// A new watcher's snapshot shows 2 as it shows 3: not at all.
		n, snap := tr.connect(t, a, 7, 2, 3, barrierUser)
		if len(snap) != 0 {
			t.Fatalf("new watcher's snapshot %v; want nobody online", snap)
		}
		// A friend-list update reports both offline, with the same last
		// seen as the leave messages.
		u, _ := tr.connect(t, a, 8)
		u.Send(`{"friends":[2,3,9]}`)
		got := map[string]bool{}
		for range 3 {
			got[u.Next().Raw] = true
		}
		if !got[invisible] || !got[leave] || !got[`{"user_id":9,"online":false}`] {
			t.Fatalf("friend-list update told %v; want %s, %s and 9 offline", got, invisible, leave)
		}
		// The invisible user still hears friends.
		f, _ := tr.connect(t, a, 6, 2)
		expectRaw(t, x, `{"user_id":6,"online":true}`)
		f.Send(`{"online":false}`)
		f.ExpectClosed()
		expectLeave(t, x, 6, from, time.Now())
		// Leaving invisible is coming online, with the status chosen.
		x.Send(`{"status":"away","text":"back"}`)
		expectRaw(t, w, `{"user_id":2,"online":true,"status":"away","text":"back"}`)
		expectRaw(t, n, `{"user_id":2,"online":true,"status":"away","text":"back"}`)
		barrierAll(t, a, w, n)
	})
}

// Bad statuses and texts get bad_status and change nothing; in the hello
// they end the connection, as any bad hello does.
func TestTransportBadStatus(t *testing.T) {
	bad := []string{
		`{"status":"busy"}`,
		`{"status":"AWAY"}`,
		`{"status":1}`,
		`{"status":null}`,
		`{"status":["away"]}`,
		`{"status":"away","text":1}`,
		`{"status":"away","text":"a\u0007b"}`,
		`{"status":"away","text":"line\nbreak"}`,
		`{"status":"away","text":"` + strings.Repeat("é", 129) + `"}`,
		`{"text":"no status"}`,
	}
	eachTransport(t, func(t *testing.T, tr transport) {
		a := allTransports(t, presence.Config{StatusInterval: -1})
		w, _ := tr.connect(t, a, 1, 2, barrierUser)
		x, _ := tr.connect(t, a, 2)
		expectRaw(t, w, `{"user_id":2,"online":true}`)
		x.Send(`{"status":"away","text":"kept"}`)
		expectRaw(t, w, `{"user_id":2,"online":true,"status":"away","text":"kept"}`)
		for _, b := range bad {
			x.Send(b)
			m := x.Next()
			if m.Error != shared.CodeBadStatus {
				t.Fatalf("%s: got %s, want bad_status", b, m.Raw)
			}
		}
		barrierAll(t, a, w) // nobody heard anything
		n := alotest.Dial(t, a.TCP)
		n.Send(alotest.Hello(3, 2))
		expectRaw(t, n, `{"user_id":2,"online":true,"status":"away","text":"kept"}`)
		// In the hello: refused, the connection ends.
		c := alotest.Dial(t, a.TCP)
		c.Send(`{"user_id":4,"status":"gone"}`)
		c.ExpectError(shared.CodeBadStatus)
		c.ExpectClosed()
	})
}

// Flap damping: a burst of changes reaches the watcher as at most a few
// messages, and the last one is the last state.
func TestStatusFlapDamping(t *testing.T) {
	a := allTransports(t, presence.Config{StatusInterval: 300 * time.Millisecond})
	w, _ := alotest.Connect(t, a.TCP, 1, 2, barrierUser)
	x, _ := alotest.Connect(t, a.TCP, 2)
	w.ExpectState(2, true)
	const burst = 40
	for i := range burst {
		x.Send(fmt.Sprintf(`{"status":"%s","text":"%d"}`, []string{"away", "dnd"}[i%2], i))
	}
	x.Send(`{"status":"dnd","text":"final"}`)
	final := `{"user_id":2,"online":true,"status":"dnd","text":"final"}`
	n := 0
	for {
		m := w.Next()
		n++
		if m.Raw == final {
			break
		}
	}
	t.Logf("%d changes reached the watcher as %d messages", burst+1, n)
	if n > 3 {
		t.Fatalf("%d messages for a burst within one damping interval; want at most 3", n)
	}
	barrier(t, a.TCP, w)
}

// Presence restarted: statuses are kept, an invisible user is never
// announced, nobody else hears a false offline, and status changes made
// while presence was away reach the watchers.
func TestPresenceRestartKeepsStatus(t *testing.T) {
	c := newCluster(t)
	p := c.presence()
	gwA, gwB := c.gateway("a"), c.gateway("b")
	w, _ := alotest.Connect(t, gwA.TCP, 100, 1, 2, 3, barrierUser)
	away, _ := alotest.Connect(t, gwB.TCP, 1)
	expectRaw(t, w, `{"user_id":1,"online":true}`)
	away.Send(`{"status":"away","text":"lunch"}`)
	expectRaw(t, w, `{"user_id":1,"online":true,"status":"away","text":"lunch"}`)
	hidden := alotest.Dial(t, gwB.TCP) // invisible from its hello: never announced
	hidden.Send(`{"user_id":2,"friends":[],"status":"invisible"}`)
	hidden.AwaitReady()
	changer, _ := alotest.Connect(t, gwA.TCP, 3)
	expectRaw(t, w, `{"user_id":3,"online":true}`)

	p.Signal(syscall.SIGKILL)
	p.Wait()
	changer.Send(`{"status":"dnd"}`) // while presence is away
	c.presence()
	// After the rebuild, the change made meanwhile arrives, and nothing
	// else: 1's status was told right, 2 is invisible.
	expectRaw(t, w, `{"user_id":3,"online":true,"status":"dnd"}`)
	// The invisible user is still served, and hears the watcher.
	hidden.Send(`{"friends":[100]}`)
	expectRaw(t, hidden, `{"user_id":100,"online":true}`)
	barrier(t, gwA.TCP, w) // no false online for 2, no false offline for 1 or 3
	_, snap := alotest.Connect(t, gwA.TCP, 101, 1, 2, 3)
	wantOnline(t, snap, 1, 3)
}

// Two sessions of one user on two gateways setting status at once: every
// watcher, and a new one's snapshot, converge to one status, the one set
// last; closing the session that set it brings back the other's.
func TestStatusTwoGatewaysConverge(t *testing.T) {
	c := newCluster(t)
	c.presence()
	gwA, gwB := c.gateway("a"), c.gateway("b")
	xa, _ := alotest.Connect(t, gwA.TCP, 2)
	xb, _ := alotest.Connect(t, gwB.TCP, 2)
	wa, _ := alotest.Connect(t, gwA.TCP, 1, 2)
	wb, _ := alotest.Connect(t, gwB.TCP, 3, 2)
	var wg sync.WaitGroup
	for _, s := range []struct {
		c    *alotest.Client
		name string
	}{{xa, "a"}, {xb, "b"}} {
		wg.Go(func() {
			for i := range 20 {
				s.c.Send(fmt.Sprintf(`{"status":"away","text":"%s%d"}`, s.name, i))
			}
		})
	}
	wg.Wait()
	// A bad status is answered in order: once its error is back, the
	// gateways have stamped every status sent before it.
	for _, x := range []*alotest.Client{xa, xb} {
		x.Send(`{"status":"?"}`)
		x.ExpectError(shared.CodeBadStatus)
	}
	// Then one more, on b, after all of a's: it is the last.
	xb.Send(`{"status":"dnd","text":"last"}`)
	last := `{"user_id":2,"online":true,"status":"dnd","text":"last"}`
	for _, w := range []*alotest.Client{wa, wb} {
		for {
			if m := w.Next(); m.Raw == last {
				break
			}
		}
	}
	n := alotest.Dial(t, gwA.TCP)
	n.Send(alotest.Hello(4, 2))
	expectRaw(t, n, last)
	// b's session set it last; when it ends, a's latest is the status.
	xb.Send(`{"online":false}`)
	xb.ExpectClosed()
	m := wa.Next()
	if !m.IsState() || !*m.Online || m.Status != "away" || m.Text != "a19" {
		t.Fatalf("after b's session closed: %s; want away a19, a's last", m.Raw)
	}
}
