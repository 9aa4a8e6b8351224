package e2e

import (
	"math/rand/v2"
	"testing"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
)

// barrierA and barrierB mark the end of a trial on each gateway: once a
// watcher has seen both arrive, every earlier event of either gateway has
// been applied and its notifications delivered.
const (
	barrierA = 900_001
	barrierB = 900_002
)

// gateways are two gateways on one NATS and presence.
type gateways struct {
	addr [2]string
	srv  [2]*gateway.Server
}

func twoGateways(t *testing.T) *gateways {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	g := &gateways{}
	g.srv[0], g.addr[0], _ = alotest.Gateway(t, ns, gateway.Config{ID: "a"})
	g.srv[1], g.addr[1], _ = alotest.Gateway(t, ns, gateway.Config{ID: "b"})
	return g
}

// sessions returns how many sessions both gateways hold.
func (g *gateways) sessions() int {
	return g.srv[0].Stats().Sessions + g.srv[1].Stats().Sessions
}

// settle waits until the gateways hold exactly want sessions (so every open
// and close the test caused has been queued for presence), then connects
// both barriers and returns the state messages about user that the watcher
// received before both arrived.
func settle(t *testing.T, gws *gateways, want int, w *alotest.Client, user int64) []bool {
	t.Helper()
	alotest.WaitFor(t, alotest.Timeout, "the gateways to take in every open and close", func() bool {
		return gws.sessions() == want
	})
	a, _ := alotest.Connect(t, gws.addr[0], barrierA)
	b, _ := alotest.Connect(t, gws.addr[1], barrierB)
	var about []bool
	for arrived := 0; arrived < 2; {
		m := w.Next()
		switch {
		case !m.IsState():
			t.Fatalf("unexpected %s", m)
		case *m.UserID == user:
			about = append(about, *m.Online)
		case (*m.UserID == barrierA || *m.UserID == barrierB) && *m.Online:
			arrived++
		default:
			t.Fatalf("unexpected %s", m)
		}
	}
	a.Close()
	b.Close()
	expectStates(t, w, map[int64]bool{barrierA: false, barrierB: false})
	return about
}

// The same user opening and closing sessions on two gateways, in random
// order and without waiting: the watcher's messages about the user strictly
// alternate (each transition once), and the last matches the final state.
func TestCrossingSessionsRandom(t *testing.T) {
	gws := twoGateways(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 40 {
		user := int64(1000 + trial)
		w, _ := alotest.Connect(t, gws.addr[0], 5000+int64(trial), user, barrierA, barrierB)
		var open []*alotest.Client
		var seen []bool
		for range 8 + rng.IntN(8) {
			if len(open) == 0 || rng.IntN(2) == 0 {
				c := alotest.Dial(t, gws.addr[rng.IntN(2)])
				c.Send(alotest.Hello(user))
				if rng.IntN(2) == 0 {
					c.AwaitReady()
				}
				open = append(open, c)
				continue
			}
			i := rng.IntN(len(open))
			if rng.IntN(2) == 0 {
				open[i].Close()
			} else {
				open[i].Send(`{"online": false}`)
			}
			open = append(open[:i], open[i+1:]...)
		}
		seen = settle(t, gws, 1+len(open), w, user)
		for i, online := range seen {
			if online != (i%2 == 0) {
				t.Fatalf("trial %d: messages about %d do not alternate from online: %v", trial, user, seen)
			}
		}
		final := len(open) > 0
		if got := len(seen) > 0 && seen[len(seen)-1]; got != final {
			t.Fatalf("trial %d: watcher's last state %v (messages %v), but user has %d sessions", trial, got, seen, len(open))
		}
		for _, c := range open {
			c.Close()
		}
		w.Close()
		alotest.WaitFor(t, alotest.Timeout, "the trial's sessions to end", func() bool { return gws.sessions() == 0 })
	}
}

// A user handing over from one gateway to the other, opening the new session
// (and waiting for its ready) before closing the old: whatever order the
// events reach presence in, watchers never hear a spurious offline.
func TestCrossingSessionsHandOver(t *testing.T) {
	gws := twoGateways(t)
	const user = 42
	w, _ := alotest.Connect(t, gws.addr[0], 7, user, barrierA, barrierB)
	old, _ := alotest.Connect(t, gws.addr[0], user)
	w.ExpectState(user, true)
	for i := range 30 {
		next, _ := alotest.Connect(t, gws.addr[(i+1)%2], user)
		old.Close()
		old = next
	}
	if seen := settle(t, gws, 2, w, user); len(seen) != 0 {
		t.Fatalf("hand-overs produced %v", seen)
	}
	old.Close()
	w.ExpectState(user, false)
}
