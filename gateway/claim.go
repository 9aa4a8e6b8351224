package gateway

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/shared"
)

// errIDTaken refuses sessions, and fails readiness, on a gateway that found
// another live run using its id.
var errIDTaken = errors.New("gateway: another running gateway has this id")

// probeTimeout bounds the question a starting gateway asks about its id.
// Nobody answering is the usual case and is known at once (NATS reports no
// responders); the timeout only matters when a subscriber stays silent.
const probeTimeout = 500 * time.Millisecond

// claim is this run's claim on the gateway id. Two gateways publishing under
// one id make presence take each batch for a restart of the other and flap
// every user of both, so a gateway makes sure it is alone with its id:
//
//   - At start, before it publishes anything, it asks on the id's claim
//     subject whether a run already serves under the id. A run that does
//     answers; then the newcomer stands down: it logs an error naming the
//     other run, publishes nothing, refuses sessions (unavailable) and
//     reports not ready, until it is restarted. A gateway restarted after a
//     kill starts normally: its old run is dead and answers nothing.
//   - Then it answers that question for later runs, and repeats its claim
//     each heartbeat, so two runs that started at the same moment (neither
//     heard the other's question) find each other within a heartbeat. Of two
//     serving runs, the one that started first keeps the id (ties go to the
//     lower boot id); the other closes its sessions and stands down.
type claim struct {
	srv     *Server
	subject string
	me      shared.GatewayClaim // Serving is set before the subscription exists
	sub     *nats.Subscription
	serving atomic.Bool
	other   atomic.Pointer[shared.GatewayClaim] // the run this one stood down for
}

func newClaim(srv *Server) *claim {
	return &claim{
		srv:     srv,
		subject: srv.subjects.GatewayClaim(srv.cfg.ID),
		me:      shared.GatewayClaim{Gateway: srv.cfg.ID, Boot: srv.boot, Started: time.Now().UTC()},
	}
}

// start asks whether the id is taken, then holds the claim.
func (c *claim) start() error {
	srv := c.srv
	probe, _ := shared.MarshalGatewayClaim(&c.me)
	reply, err := srv.nc.Request(c.subject, probe, probeTimeout)
	switch {
	case err == nil:
		var other shared.GatewayClaim
		if shared.UnmarshalGatewayClaim(reply.Data, &other) == nil && other.Boot != c.me.Boot {
			c.standDown(&other) // only a serving run answers
		}
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrTimeout):
		// Nobody holds the id.
	default:
		srv.log.Warn("could not check that no other gateway has this id", "err", err)
	}
	if c.other.Load() == nil {
		c.me.Serving = true
		c.serving.Store(true)
	}
	sub, err := srv.nc.Subscribe(c.subject, c.hear)
	if err != nil {
		return fmt.Errorf("gateway: subscribe: %w", err)
	}
	c.sub = sub
	c.announce()
	return nil
}

func (c *claim) stop() {
	if c.sub != nil {
		_ = c.sub.Unsubscribe() // an error means the connection is closed
	}
}

// announce repeats the claim, while this run holds it.
func (c *claim) announce() {
	if !c.serving.Load() || c.sub == nil {
		return
	}
	data, _ := shared.MarshalGatewayClaim(&c.me)
	_ = c.srv.nc.Publish(c.subject, data) // a lost one is repeated next heartbeat
}

// hear handles a message on the claim subject: a starting run's question,
// or a serving run's claim.
func (c *claim) hear(m *nats.Msg) {
	srv := c.srv
	var other shared.GatewayClaim
	if err := shared.UnmarshalGatewayClaim(m.Data, &other); err != nil || other.Gateway != srv.cfg.ID || other.Boot == "" {
		srv.rlog.Warn("bad claim", "dropped a malformed gateway id claim", "err", err)
		return
	}
	if other.Boot == c.me.Boot || !c.serving.Load() {
		return // our own, or we already stood down
	}
	if !other.Serving {
		// A newcomer asks: the id is ours, and it stands down on hearing so.
		if m.Reply != "" {
			data, _ := shared.MarshalGatewayClaim(&c.me)
			_ = m.Respond(data)
		}
		srv.rlog.Error("id claimed", "another gateway started with this gateway's id; it stands down",
			"other_boot", other.Boot, "other_started", other.Started, "boot", c.me.Boot)
		return
	}
	if c.me.Started.Before(other.Started) || c.me.Started.Equal(other.Started) && c.me.Boot < other.Boot {
		// Both serve (they started together): this run keeps the id. Resend
		// everything, in case presence took the other's batches for ours.
		srv.rlog.Error("id claimed", "another gateway is serving with this gateway's id; it stands down, this one keeps the id",
			"other_boot", other.Boot, "other_started", other.Started, "boot", c.me.Boot)
		srv.requestResync()
		return
	}
	c.standDown(&other)
}

// standDown gives the id up to another run: this one closes its sessions,
// publishes nothing more (not even a bye, which presence would take for the
// other run's), refuses new sessions and reports not ready.
func (c *claim) standDown(other *shared.GatewayClaim) {
	if !c.other.CompareAndSwap(nil, other) {
		return
	}
	c.serving.Store(false)
	srv := c.srv
	srv.log.Error("another gateway is running with this gateway's id; this one stands down: it takes no sessions and publishes nothing until restarted with another id",
		"other_boot", other.Boot, "other_started", other.Started, "boot", c.me.Boot, "started", c.me.Started)
	pe := &shared.ProtocolError{Code: shared.CodeUnavailable, Message: "the gateway cannot take sessions now: " + c.refusal().Error()}
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	for _, s := range srv.sessions {
		s.close(protocolDisconnect(pe))
	}
}

// yielded reports whether this run stood down.
func (c *claim) yielded() bool { return c.other.Load() != nil }

// refusal returns why this run takes no sessions, or nil.
func (c *claim) refusal() error {
	other := c.other.Load()
	if other == nil {
		return nil
	}
	return fmt.Errorf("%w (boot %s, started %s)", errIDTaken, other.Boot, other.Started.Format(time.RFC3339))
}
