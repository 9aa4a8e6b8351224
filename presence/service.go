package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

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
	// Instance names this presence process in its announcements and logs,
	// so that two presences on one prefix can tell each other apart.
	// Default: "p-" and random hex, new at each start.
	Instance string
	// StatusInterval is the flap damping of status changes: after one of a
	// user's status or text changes reaches the watchers, the next waits
	// until this much time has passed, and then only the latest state is
	// sent. Coming online and going offline (invisible included) are never
	// held. Default DefaultStatusInterval (1s); negative means no damping.
	StatusInterval time.Duration
	// LastSeen keeps users' last seen. Default: a MemoryLastSeen, lost at
	// a restart, unless LastSeenBucket is set.
	LastSeen LastSeenStore
	// LastSeenBucket, when set and LastSeen is not, keeps last seen in
	// this JetStream KV bucket (created if absent), so that it survives a
	// restart. Default "": memory only.
	LastSeenBucket string

	// The bounds below are what presence accepts from the bus, so that
	// forged or garbage traffic (with NATS permissions off) costs bounded
	// memory and time. Their defaults are far above what real gateways send;
	// what exceeds them is dropped and logged, rate-limited.

	// MaxGateways is how many gateway ids presence holds at once; a batch
	// from another id is dropped. Default 1024.
	MaxGateways int
	// MaxGatewaySessions is how many sessions presence holds for one
	// gateway; opens beyond it are dropped. Default 50,000 (a gateway holds
	// 20,000 connections by default).
	MaxGatewaySessions int
	// MaxFriends is the longest friend list, or known set, one event may
	// carry; an event with a longer one is dropped. Keep it at least the
	// gateways' --max-friends. Default 10,000 (gateways: 5,000).
	MaxFriends int
	// MaxEventsPerSecond is how many events presence accepts from one
	// gateway id in a second; a batch beyond it is dropped whole, and a
	// resync it belonged to is asked for again. Default 200,000 (a gateway
	// resends at most its 20,000 sessions at once).
	MaxEventsPerSecond int

	// Metrics is where presence registers its Prometheus metrics
	// (docs/OPERATIONS.md). Default nil: none.
	Metrics prometheus.Registerer
	// NoChanges turns the change feed off (feed.go). Default: on.
	NoChanges bool
	// ChangesStream, when named, keeps the change feed in a JetStream
	// stream (feed.go). Default: no stream.
	ChangesStream ChangesStream
}

// DefaultStatusInterval is Config.StatusInterval's default: at most one
// status message per user a second.
const DefaultStatusInterval = time.Second

// The defaults of Config's bounds.
const (
	DefaultMaxGateways        = 1024
	DefaultMaxGatewaySessions = 50_000
	DefaultMaxFriends         = 10_000
	DefaultMaxEventsPerSecond = 200_000
)

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
	if c.Instance == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		c.Instance = "p-" + hex.EncodeToString(b[:])
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.StatusInterval < 0 {
		c.StatusInterval = 0
	}
	if c.LastSeen == nil && c.LastSeenBucket == "" {
		c.LastSeen = NewMemoryLastSeen(0)
	}
	if c.MaxGateways == 0 {
		c.MaxGateways = DefaultMaxGateways
	}
	if c.MaxGatewaySessions == 0 {
		c.MaxGatewaySessions = DefaultMaxGatewaySessions
	}
	if c.MaxFriends == 0 {
		c.MaxFriends = DefaultMaxFriends
	}
	if c.MaxEventsPerSecond == 0 {
		c.MaxEventsPerSecond = DefaultMaxEventsPerSecond
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
	case c.MaxGateways < 1, c.MaxGatewaySessions < 1, c.MaxFriends < 1, c.MaxEventsPerSecond < 1:
		return errors.New("presence: limits must be positive")
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
	// one of a kind a second; dupLog the ones about another presence on our
	// prefix, which stay true for as long as it runs, every 30 seconds.
	rlog, dupLog *shared.RateLog

	// me is this instance's announcement, set when Run starts.
	me shared.Announcement
	// standby is set while another presence on our prefix is established:
	// this one publishes nothing and answers no pings until it is gone.
	standby atomic.Bool

	mu    sync.Mutex // guards stats, read by the ping responder
	stats stats

	metrics  *metrics
	obs      *observer           // metrics and the change feed, for the index
	requests chan backendRequest // the micro service's, for the Run loop (service_micro.go)
	stopped  chan struct{}       // closed when Run returns
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
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("presence: metrics: %w", err)
	}
	s := &Service{nc: nc, log: log, cfg: cfg, subjects: subjects,
		rlog: shared.NewRateLog(log, 0), dupLog: shared.NewRateLog(log, 30*time.Second),
		metrics: m, obs: &observer{m: m}, requests: make(chan backendRequest, requestQueue), stopped: make(chan struct{})}
	if !cfg.NoChanges {
		s.obs.feed = &feed{nc: nc, subjects: subjects, log: s.rlog, m: m}
	}
	return s, nil
}

// Run serves until ctx is done, then returns after every goroutine it started
// has ended. It returns an error only if it cannot subscribe.
func (s *Service) Run(ctx context.Context) error {
	s.me = shared.Announcement{Instance: s.cfg.Instance, Started: time.Now().UTC()}
	if err := s.ensureStream(ctx); err != nil {
		return err
	}
	if s.cfg.LastSeen == nil {
		store, err := openKVLastSeen(ctx, s.nc, s.cfg.LastSeenBucket, s.rlog)
		if err != nil {
			return err
		}
		defer store.close()
		s.cfg.LastSeen = store
	}
	msgs := make(chan *nats.Msg, s.cfg.Queue)
	sub, err := s.nc.ChanSubscribe(s.subjects.AllEvents(), msgs)
	if err != nil {
		return fmt.Errorf("presence: subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	// Other presences' announcements, and their answers to ours and to our
	// probes while we stand by, arrive here.
	peers := make(chan *nats.Msg, 64)
	up, err := s.nc.ChanSubscribe(s.subjects.PresenceUp(), peers)
	if err != nil {
		return fmt.Errorf("presence: subscribe: %w", err)
	}
	defer up.Unsubscribe()
	inbox := s.nc.NewInbox()
	answers, err := s.nc.ChanSubscribe(inbox, peers)
	if err != nil {
		return fmt.Errorf("presence: subscribe: %w", err)
	}
	defer answers.Unsubscribe()
	ping, err := s.nc.Subscribe(s.subjects.PresencePing(), s.ping)
	if err != nil {
		return fmt.Errorf("presence: subscribe: %w", err)
	}
	defer ping.Unsubscribe()
	reconnected := s.nc.StatusChanged(nats.CONNECTED)
	defer s.nc.RemoveStatusListener(reconnected)
	svc, err := s.startMicro()
	if err != nil {
		return err
	}
	defer svc.Stop()
	// Before the service stops: handlers waiting for an answer give up.
	defer close(s.stopped)

	out := &publisher{nc: s.nc, subjects: s.subjects, log: s.rlog, m: s.metrics}
	var st *ledger
	rebuild := time.NewTimer(0)
	defer rebuild.Stop()
	var started time.Time
	// begin starts serving from an empty state, as at a start: announce,
	// and collect the gateways' resends for the rebuild window.
	begin := func(rebuildFor time.Duration) {
		st = s.newLedger(out)
		st.log = s.rlog
		st.idx.obs = s.obs
		st.lim = limits{s.cfg.MaxGateways, s.cfg.MaxGatewaySessions, s.cfg.MaxFriends, s.cfg.MaxEventsPerSecond}
		if rebuildFor > 0 {
			st.beginRebuild()
		}
		rebuild.Reset(max(rebuildFor, 0))
		started = time.Now()
		s.announce(inbox)
	}
	tick := time.NewTicker(max(s.cfg.Lease/4, time.Millisecond))
	defer tick.Stop()
	// damp fires when the first damped status change is due: one timer for
	// every user's, reset after each step to the head of the index's queue.
	damp := time.NewTimer(time.Hour)
	defer damp.Stop()
	dampAt := time.Time{}

	begin(s.cfg.Rebuild)
	s.log.Info("presence running", "instance", s.me.Instance, "policy", s.cfg.Policy.String(),
		"lease", s.cfg.Lease.String(), "rebuild", s.cfg.Rebuild.String())
	var batch shared.Batch
	var dropped int
	var heard time.Time // while standing by: when the established one last answered
	for {
		select {
		case <-ctx.Done():
			s.nc.Flush()
			return nil
		case m := <-peers:
			other, ok := s.peer(m)
			if !ok {
				continue
			}
			if other.Precedes(s.me) {
				heard = time.Now()
				if !s.standby.Load() {
					s.log.Error("another presence is established on this prefix: standing by",
						"instance", s.me.Instance, "other", other.Instance, "other_started", other.Started)
					s.standby.Store(true)
					out.mute = true
					st = s.newLedger(out) // forget; rebuilt on takeover
				}
			} else if !s.standby.Load() {
				s.dupLog.Error("duplicate_presence", "another presence started on this prefix; it stands by",
					"instance", s.me.Instance, "other", other.Instance, "other_started", other.Started)
			}
			if m.Reply != "" && m.Subject != inbox {
				// Tell the announcer we exist, so that it can decide too.
				s.answer(m.Reply)
			}
		case m := <-msgs:
			if s.standby.Load() {
				continue
			}
			if err := shared.UnmarshalBatch(m.Data, &batch); err != nil || batch.Gateway == "" {
				s.rlog.Warn("bad_batch", "bad event batch", "subject", m.Subject, "bytes", len(m.Data), "err", err)
				continue
			}
			if gw, _ := s.subjects.ParseEvents(m.Subject); gw != batch.Gateway {
				// A gateway publishes only under its own id (NATS
				// permissions can hold it to that): a batch naming
				// another is forged, and would end or flap that
				// gateway's sessions.
				s.rlog.Warn("batch_subject_mismatch", "dropped an event batch whose gw is not its subject's",
					"subject", m.Subject, "gw", batch.Gateway)
				continue
			}
			applied := time.Now()
			st.apply(&batch, applied)
			out.end()
			since(s.metrics.batch, applied)
			// Let a burst through before the bookkeeping below.
			if len(msgs) > 0 {
				continue
			}
		case req := <-s.requests:
			s.serveRequest(st, out, req)
		case <-rebuild.C:
			// A resync still under way at the end of the window would leave
			// its sessions out of the rebuilt state, and their watchers would
			// hear a false offline: wait for it, up to three windows.
			if st.rebuilding && st.resyncing() && time.Since(started) < 3*s.cfg.Rebuild {
				rebuild.Reset(s.cfg.Rebuild / 10)
				continue
			}
			if st.rebuilding && !s.standby.Load() {
				st.finishRebuild()
				out.end()
				s.metrics.rebuild.Set(time.Since(started).Seconds())
				s.log.Info("rebuild done", "users", len(st.idx.users), "gateways", len(st.gateways))
			}
		case <-damp.C:
			dampAt = time.Time{}
			st.idx.now = time.Now()
			st.idx.flushDamped()
			out.end()
		case <-reconnected:
			if s.standby.Load() {
				continue
			}
			// Heartbeats sent while we were cut off never reached us: renew
			// every lease and ask every gateway for its sessions instead of
			// expiring them.
			st.renewAll(time.Now())
			s.announce(inbox)
			s.log.Info("reconnected to nats, resynchronising")
		case <-tick.C:
			if s.standby.Load() {
				if time.Since(heard) > s.cfg.Lease {
					// The established presence stopped answering: it is gone.
					s.log.Warn("the established presence does not answer: taking over", "instance", s.me.Instance)
					s.standby.Store(false)
					out.mute = false
					begin(max(s.cfg.Rebuild, s.cfg.Lease))
				} else {
					s.probe(inbox)
				}
				continue
			}
			s.metrics.countWatches(st.idx)
			for _, id := range st.expire(time.Now()) {
				s.metrics.leasesExpired.Inc()
				s.rlog.Warn("lease_expired", "gateway lease expired", "gateway", id)
			}
			out.end()
			if d, _ := sub.Dropped(); d > dropped {
				// NATS dropped events because we fell behind: the digests
				// would catch it, but a full resync is quicker.
				s.rlog.Warn("events_dropped", "events dropped, resynchronising", "dropped", d-dropped)
				s.metrics.natsDropped.Add(float64(d - dropped))
				dropped = d
				s.announce(inbox)
			}
		}
		if due, ok := st.idx.nextDamped(); ok && !due.Equal(dampAt) {
			dampAt = due
			damp.Reset(max(time.Until(due), 0))
		}
		s.mu.Lock()
		s.stats = st.stats()
		s.metrics.state(s.stats)
		s.mu.Unlock()
	}
}

// newLedger returns an empty state for the service's configuration.
func (s *Service) newLedger(out emitter) *ledger {
	l := newLedger(s.cfg.Policy, s.subjects, s.cfg.Lease, out)
	l.idx.damp = s.cfg.StatusInterval
	l.idx.lastSeen = s.cfg.LastSeen
	return l
}

// peer decodes another presence's announcement, or answer, from m. Our own
// announcements come back to us, and empty ones (older presences, or anyone)
// say nothing about who sent them.
func (s *Service) peer(m *nats.Msg) (shared.Announcement, bool) {
	var a shared.Announcement
	if len(m.Data) == 0 {
		return a, false
	}
	if err := shared.UnmarshalAnnouncement(m.Data, &a); err != nil {
		s.rlog.Warn("bad_announcement", "bad presence announcement", "subject", m.Subject, "err", err)
		return a, false
	}
	return a, a.Instance != s.me.Instance
}

// announce asks every gateway to resend its sessions, and tells every other
// presence who we are; they answer on inbox.
func (s *Service) announce(inbox string) {
	data, _ := shared.MarshalAnnouncement(&s.me)
	s.metrics.resyncsAsked.Inc()
	if err := s.nc.PublishMsg(&nats.Msg{Subject: s.subjects.PresenceUp(), Reply: inbox, Data: data}); err != nil {
		s.rlog.Warn("announce_failed", "announce failed", "err", err)
	}
}

// answer tells a presence that announced itself, or probes, that we exist.
func (s *Service) answer(to string) {
	if s.subjects.Internal(to) {
		s.rlog.Warn("forged_reply", "refusing to answer onto an alo subject", "reply", to)
		return
	}
	data, _ := shared.MarshalAnnouncement(&s.me)
	if err := s.nc.Publish(to, data); err != nil {
		s.rlog.Warn("answer_failed", "answering a presence failed", "err", err)
	}
}

// probe asks, while standing by, whether the established presence still
// runs: it answers pings, and answers a ping carrying an announcement with
// its own. Announcing again instead would make every gateway resend.
func (s *Service) probe(inbox string) {
	data, _ := shared.MarshalAnnouncement(&s.me)
	if err := s.nc.PublishMsg(&nats.Msg{Subject: s.subjects.PresencePing(), Reply: inbox, Data: data}); err != nil {
		s.rlog.Warn("probe_failed", "probing the established presence failed", "err", err)
	}
}

// ping answers readiness probes with a summary of the state, and a standing
// by presence's probe with our announcement. A presence standing by answers
// nothing: a gateway must not take it for the one that serves.
func (s *Service) ping(m *nats.Msg) {
	if s.standby.Load() {
		return
	}
	if len(m.Data) > 0 {
		var other shared.Announcement
		if shared.UnmarshalAnnouncement(m.Data, &other) == nil && other.Instance != s.me.Instance {
			s.dupLog.Error("duplicate_presence", "another presence on this prefix stands by",
				"instance", s.me.Instance, "other", other.Instance, "other_started", other.Started)
			s.answer(m.Reply)
			return
		}
	}
	if s.subjects.Internal(m.Reply) {
		s.rlog.Warn("forged_reply", "refusing to answer onto an alo subject", "reply", m.Reply)
		return
	}
	s.mu.Lock()
	body, _ := json.Marshal(s.stats)
	s.mu.Unlock()
	_ = m.Respond(body)
}

// errNATSDown is the readiness failure while NATS is unreachable.
var errNATSDown = errors.New("presence: not connected to nats")

// errStandby is the readiness failure while another presence serves our
// prefix.
var errStandby = errors.New("presence: standing by: another presence serves this prefix")

// Ready reports whether presence can serve: it is connected to NATS and no
// other presence on its prefix was there first.
func (s *Service) Ready(context.Context) error {
	if !s.nc.IsConnected() {
		return errNATSDown
	}
	if s.standby.Load() {
		return errStandby
	}
	return nil
}

// Stats returns a summary of presence's state as of the last event.
func (s *Service) Stats() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
