package e2e

import (
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// A new session gets one online message per online friend, then ready; an
// offline friend is not mentioned.
func TestSnapshotThenReady(t *testing.T) {
	addr := system(t, presence.Config{}, gateway.Config{})
	alotest.Connect(t, addr, 2)
	alotest.Connect(t, addr, 3, 1) // lists 1 back: irrelevant to the watchers policy
	c := alotest.Dial(t, addr)
	c.Send(alotest.Hello(1, 2, 3, 4, 2, 1)) // duplicates and self are dropped
	seen := map[int64]bool{}
	for range 2 {
		m := c.Next()
		if !m.IsState() || !*m.Online || seen[*m.UserID] {
			t.Fatalf("snapshot: unexpected %s", m)
		}
		seen[*m.UserID] = true
	}
	if m := c.Next(); !m.Ready || m.Session == "" {
		t.Fatalf("got %s, want ready with a session id", m)
	}
	if !seen[2] || !seen[3] {
		t.Fatalf("snapshot %v, want 2 and 3", seen)
	}
}

// The default policy lets anyone who lists X see X, listed back or not.
func TestWatchersPolicyIsOneWay(t *testing.T) {
	addr := system(t, presence.Config{}, gateway.Config{})
	a, _ := alotest.Connect(t, addr, 1, 2)
	b, snap := alotest.Connect(t, addr, 2, barrierUser)
	wantOnline(t, snap)
	a.ExpectState(2, true)
	barrier(t, addr, b)
}

// Two gateways and one presence on one NATS: a user on gateway A hears a
// friend connect to and leave gateway B.
func TestAcrossGateways(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addrA, _ := alotest.Gateway(t, ns, gateway.Config{ID: "a"})
	_, addrB, stopB := alotest.Gateway(t, ns, gateway.Config{ID: "b"})

	a, _ := alotest.Connect(t, addrA, 1, 2)
	b, snap := alotest.Connect(t, addrB, 2, 1)
	wantOnline(t, snap, 1)
	a.ExpectState(2, true)
	b.Close()
	a.ExpectState(2, false)

	// A clean stop of gateway B tells watchers its users went offline.
	alotest.Connect(t, addrB, 2, 1)
	a.ExpectState(2, true)
	stopB()
	a.ExpectState(2, false)
}

// Anyone may publish to a user's subject and reach every session of that
// user, on every gateway.
func TestUserSubjectReachesEverySession(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addrA, _ := alotest.Gateway(t, ns, gateway.Config{})
	_, addrB, _ := alotest.Gateway(t, ns, gateway.Config{})
	s1, _ := alotest.Connect(t, addrA, 7)
	s2, _ := alotest.Connect(t, addrB, 7)
	s3, _ := alotest.Connect(t, addrB, 7)

	nc := alotest.Conn(t, ns)
	subjects := shared.MustSubjects("")
	if err := nc.Publish(subjects.User(7), []byte(`{"user_id":42,"online":true}`)); err != nil {
		t.Fatal(err)
	}
	// Not one JSON object on one line: dropped rather than breaking framing.
	nc.Publish(subjects.User(7), []byte("{\"a\":\n1}"))
	nc.Publish(subjects.User(7), []byte(`not json`))
	nc.Publish(subjects.User(7), []byte(`{"user_id":42,"online":false}`))
	for _, s := range []*alotest.Client{s1, s2, s3} {
		s.ExpectState(42, true)
		s.ExpectState(42, false)
	}
}

// Friend lists at the limit travel through every path: a hello with 5000
// friends who are all online gets all 5000 in its snapshot, and a resync of
// many such sessions stays within the NATS payload limit.
func TestFullFriendLists(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 5000 sessions")
	}
	ns := alotest.NATS(t)
	stopPresence := alotest.Presence(t, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{})
	friends := make([]int64, 5000)
	for i := range friends {
		friends[i] = int64(i + 1)
		c := alotest.Dial(t, addr)
		c.Send(alotest.Hello(friends[i]))
		c.AwaitReady()
	}
	watchers := make([]*alotest.Client, 3)
	for i := range watchers {
		var snap []int64
		watchers[i], snap = alotest.Connect(t, addr, int64(100_000+i), friends...)
		if len(snap) != len(friends) {
			t.Fatalf("snapshot has %d friends, want %d", len(snap), len(friends))
		}
	}
	// A presence restart resends and corrects all of them at once: nothing
	// to correct, so nothing arrives, and the next transition flows.
	stopPresence()
	alotest.Presence(t, ns, presence.Config{Rebuild: 300 * time.Millisecond})
	late := alotest.Dial(t, addr)
	late.Send(alotest.Hello(5001))
	late.AwaitReady()
	for _, w := range watchers {
		w.Send(`{"friends": [5001]}`)
	}
	for _, w := range watchers {
		w.ExpectState(5001, true)
	}
}
