package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/shared"
)

// Config configures a Service. The zero value is ready to use.
type Config struct {
	// Prefix is the NATS subject prefix. Default "alo".
	Prefix string
	// Policy says who may see a user's presence. Default PolicyWatchers.
	Policy Policy
	// Lease is how long a gateway may stay silent before presence ends its
	// sessions. It must exceed the gateways' heartbeat interval. Default 3s.
	Lease time.Duration
	// Rebuild is how long presence collects sessions after it starts before
	// it notifies anyone. Default: Lease, by which time every live gateway has
	// heard the announcement or sent a heartbeat. Resyncs still under way then
	// are waited for, up to three times as long. Negative means none, for a
	// presence that starts with its NATS server, before any gateway.
	Rebuild time.Duration
	// Queue is how many NATS messages may wait to be processed before NATS
	// drops them (and presence resynchronises). Default 65536.
	Queue int
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = shared.DefaultPrefix
	}
	if c.Lease == 0 {
		c.Lease = 3 * time.Second
	}
	if c.Rebuild == 0 {
		c.Rebuild = c.Lease
	}
	if c.Queue == 0 {
		c.Queue = 65536
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Lease < 0:
		return errors.New("presence: lease must be positive")
	case c.Policy != PolicyWatchers && c.Policy != PolicyMutual:
		return errors.New("presence: unknown policy")
	case c.Queue < 1:
		return errors.New("presence: queue must be positive")
	}
	return nil
}

// Service is the presence service. Create it with New and run it with Run.
type Service struct {
	nc       *nats.Conn
	log      *slog.Logger
	cfg      Config
	subjects shared.Subjects

	// rlog writes the lines that anything on the bus can trigger, at most
	// one of a kind a second.
	rlog *shared.RateLog

	mu    sync.Mutex // guards stats, read by the ping responder
	stats stats
}

// New returns a presence service that talks through nc.
func New(nc *nats.Conn, log *slog.Logger, cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	subjects, err := shared.NewSubjects(cfg.Prefix)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	return &Service{nc: nc, log: log, cfg: cfg, subjects: subjects, rlog: shared.NewRateLog(log, 0)}, nil
}

// Run serves until ctx is done, then returns after every goroutine it started
// has ended. It returns an error only if it cannot subscribe.
func (s *Service) Run(ctx context.Context) error {
	msgs := make(chan *nats.Msg, s.cfg.Queue)
	sub, err := s.nc.ChanSubscribe(s.subjects.Events(), msgs)
	if err != nil {
		return fmt.Errorf("presence: subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	ping, err := s.nc.Subscribe(s.subjects.PresencePing(), s.ping)
	if err != nil {
		return fmt.Errorf("presence: subscribe: %w", err)
	}
	defer ping.Unsubscribe()
	reconnected := s.nc.StatusChanged(nats.CONNECTED)
	defer s.nc.RemoveStatusListener(reconnected)

	out := &publisher{nc: s.nc, subjects: s.subjects, log: s.rlog}
	st := newLedger(s.cfg.Policy, s.subjects, s.cfg.Lease, out)
	if s.cfg.Rebuild > 0 {
		st.beginRebuild()
	}
	rebuild := time.NewTimer(max(s.cfg.Rebuild, 0))
	defer rebuild.Stop()
	tick := time.NewTicker(max(s.cfg.Lease/4, time.Millisecond))
	defer tick.Stop()

	started := time.Now()
	s.announce()
	s.log.Info("presence running", "policy", s.cfg.Policy.String(), "lease", s.cfg.Lease.String(), "rebuild", s.cfg.Rebuild.String())
	var batch shared.Batch
	var dropped int
	for {
		select {
		case <-ctx.Done():
			s.nc.Flush()
			return nil
		case m := <-msgs:
			if err := shared.UnmarshalBatch(m.Data, &batch); err != nil || batch.Gateway == "" {
				s.rlog.Warn("bad_batch", "bad event batch", "subject", m.Subject, "bytes", len(m.Data), "err", err)
				continue
			}
			st.apply(&batch, time.Now())
			out.end()
			// Let a burst through before the bookkeeping below.
			if len(msgs) > 0 {
				continue
			}
		case <-rebuild.C:
			// A resync still under way at the end of the window would leave
			// its sessions out of the rebuilt state, and their watchers would
			// hear a false offline: wait for it, up to three windows.
			if st.rebuilding && st.resyncing() && time.Since(started) < 3*s.cfg.Rebuild {
				rebuild.Reset(s.cfg.Rebuild / 10)
				continue
			}
			if st.rebuilding {
				st.finishRebuild()
				out.end()
				s.log.Info("rebuild done", "users", len(st.idx.users), "gateways", len(st.gateways))
			}
		case <-reconnected:
			// Heartbeats sent while we were cut off never reached us: renew
			// every lease and ask every gateway for its sessions instead of
			// expiring them.
			st.renewAll(time.Now())
			s.announce()
			s.log.Info("reconnected to nats, resynchronising")
		case <-tick.C:
			for _, id := range st.expire(time.Now()) {
				s.rlog.Warn("lease_expired", "gateway lease expired", "gateway", id)
			}
			out.end()
			if d, _ := sub.Dropped(); d > dropped {
				// NATS dropped events because we fell behind: the digests
				// would catch it, but a full resync is quicker.
				s.rlog.Warn("events_dropped", "events dropped, resynchronising", "dropped", d-dropped)
				dropped = d
				s.announce()
			}
		}
		s.mu.Lock()
		s.stats = st.stats()
		s.mu.Unlock()
	}
}

// announce asks every gateway to resend its sessions.
func (s *Service) announce() {
	if err := s.nc.Publish(s.subjects.PresenceUp(), nil); err != nil {
		s.log.Warn("announce failed", "err", err)
	}
}

// ping answers readiness probes with a summary of the state.
func (s *Service) ping(m *nats.Msg) {
	s.mu.Lock()
	body, _ := json.Marshal(s.stats)
	s.mu.Unlock()
	_ = m.Respond(body)
}

// errNATSDown is the readiness failure while NATS is unreachable.
var errNATSDown = errors.New("presence: not connected to nats")

// Ready reports whether presence can serve: it is connected to NATS.
func (s *Service) Ready(context.Context) error {
	if !s.nc.IsConnected() {
		return errNATSDown
	}
	return nil
}

// Stats returns a summary of presence's state as of the last event.
func (s *Service) Stats() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
