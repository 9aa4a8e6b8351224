package gateway

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/shared"
)

// Of two serving runs of one id that hear each other (they started at the
// same moment, so neither heard the other's question), the one that
// started first keeps the id, ties going to the lower boot; a question from
// a newcomer never makes a serving run stand down. Claims about another id,
// or garbage, change nothing.
func TestClaimTieBreak(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	serving := func() *claim {
		srv, err := New(nc, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{ID: "g"})
		if err != nil {
			t.Fatal(err)
		}
		c := srv.claim
		c.me.Serving = true
		c.serving.Store(true)
		return c
	}
	hear := func(c *claim, other shared.GatewayClaim) {
		data, _ := shared.MarshalGatewayClaim(&other)
		c.hear(&nats.Msg{Data: data})
	}
	for _, tc := range []struct {
		name      string
		other     func(me shared.GatewayClaim) shared.GatewayClaim
		standDown bool
	}{
		{"older serving run", func(me shared.GatewayClaim) shared.GatewayClaim {
			return shared.GatewayClaim{Gateway: "g", Boot: "zzzz", Started: me.Started.Add(-time.Second), Serving: true}
		}, true},
		{"younger serving run", func(me shared.GatewayClaim) shared.GatewayClaim {
			return shared.GatewayClaim{Gateway: "g", Boot: "0000", Started: me.Started.Add(time.Second), Serving: true}
		}, false},
		{"malformed: no boot", func(me shared.GatewayClaim) shared.GatewayClaim {
			return shared.GatewayClaim{Gateway: "g", Boot: "", Started: me.Started, Serving: true}
		}, false},
		{"same start, boot below ours", func(me shared.GatewayClaim) shared.GatewayClaim {
			return shared.GatewayClaim{Gateway: "g", Boot: me.Boot[:len(me.Boot)-1], Started: me.Started, Serving: true}
		}, true},
		{"same start, boot above ours", func(me shared.GatewayClaim) shared.GatewayClaim {
			return shared.GatewayClaim{Gateway: "g", Boot: me.Boot + "0", Started: me.Started, Serving: true}
		}, false},
		{"an older newcomer asking", func(me shared.GatewayClaim) shared.GatewayClaim {
			return shared.GatewayClaim{Gateway: "g", Boot: "zzzz", Started: me.Started.Add(-time.Hour)}
		}, false},
		{"another id", func(me shared.GatewayClaim) shared.GatewayClaim {
			return shared.GatewayClaim{Gateway: "h", Boot: "zzzz", Started: me.Started.Add(-time.Hour), Serving: true}
		}, false},
	} {
		c := serving()
		hear(c, tc.other(c.me))
		c.hear(&nats.Msg{Data: []byte("not json")})
		if got := c.yielded(); got != tc.standDown {
			t.Errorf("%s: stood down %v, want %v", tc.name, got, tc.standDown)
		}
		if got := c.refusal() != nil; got != tc.standDown {
			t.Errorf("%s: refuses sessions %v, want %v", tc.name, got, tc.standDown)
		}
	}
}
