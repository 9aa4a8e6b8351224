package presence

import (
	"time"

	"github.com/alo-presence/alo/shared"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are presence's Prometheus metrics (docs/OPERATIONS.md lists them).
// They always exist, registered or not, so the state machine counts without
// asking whether anyone listens; labelled children are resolved once, here.
// No label names a user or a gateway: cardinality stays fixed.
type metrics struct {
	users, sessions, gateways, watches prometheus.Gauge
	transitions                        [2]prometheus.Counter // [0] offline, [1] online
	notifications                      prometheus.Counter
	snapshots                          prometheus.Counter
	resyncsAsked                       prometheus.Counter
	leasesExpired                      prometheus.Counter
	natsDropped                        prometheus.Counter
	rebuild                            prometheus.Gauge
	batch                              prometheus.Histogram
	changes                            prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{
		users:         gauge("alo_presence_users", "Users online (with at least one session on any gateway)."),
		sessions:      gauge("alo_presence_sessions", "Sessions presence holds, over every gateway."),
		gateways:      gauge("alo_presence_gateways", "Gateways presence holds a lease for."),
		watches:       gauge("alo_presence_watches", "Watch relations of online users (W lists X), updated every quarter lease."),
		notifications: counter("alo_presence_notifications_published_total", "State messages published to users' subjects."),
		snapshots:     counter("alo_presence_session_states_published_total", "Per-session states (snapshots and corrections) sent to gateways."),
		resyncsAsked:  counter("alo_presence_resyncs_requested_total", "Requests that gateways resend their sessions (one gateway's, or every gateway's by announcement)."),
		leasesExpired: counter("alo_presence_leases_expired_total", "Gateways whose lease ran out (their sessions ended)."),
		natsDropped:   counter("alo_presence_nats_dropped_messages_total", "Event batches NATS dropped because presence fell behind."),
		rebuild:       gauge("alo_presence_rebuild_duration_seconds", "How long the last rebuild after a start or takeover took."),
		changes:       counter("alo_presence_changes_published_total", "Entries published on the change feed."),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "alo_presence_batch_duration_seconds",
			Help:    "Time to apply one gateway event batch and publish what it caused.",
			Buckets: []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}}),
	}
	transitions := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alo_presence_transitions_total",
		Help: "Users going online or offline."}, []string{"to"})
	m.transitions[0] = transitions.WithLabelValues("offline")
	m.transitions[1] = transitions.WithLabelValues("online")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.users, m.sessions, m.gateways, m.watches, transitions, m.notifications,
		m.snapshots, m.resyncsAsked, m.leasesExpired, m.natsDropped, m.rebuild, m.batch, m.changes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// state sets the gauges from a summary of the state.
func (m *metrics) state(st stats) {
	m.users.Set(float64(st.Users))
	m.sessions.Set(float64(st.Sessions))
	m.gateways.Set(float64(st.Gateways))
}

// countWatches sets the watch gauge; it walks the watcher table, so the
// service calls it on its tick, not per event.
func (m *metrics) countWatches(x *index) {
	n := 0
	for _, w := range x.watchers {
		n += len(w)
	}
	m.watches.Set(float64(n))
}

// since observes the time since start on h.
func since(h prometheus.Observer, start time.Time) { h.Observe(time.Since(start).Seconds()) }

// observer is what the index tells beyond the watchers: the metrics, and
// the change feed. A nil observer (tests that drive the index directly)
// hears nothing.
type observer struct {
	m    *metrics
	feed *feed
}

// show hears that u comes online for the watchers (quiet during a
// rebuild: the index does not call it then).
func (o *observer) show(x *index, u *user) {
	if o == nil || x.quiet {
		return
	}
	o.m.transitions[1].Inc()
	if o.feed != nil {
		o.feed.publish(u.id, true, u.sentStatus.String(), "")
	}
}

// hide hears that u goes offline for the watchers: the reason is the
// ledger's (x.why), or invisible when that is what hid u.
func (o *observer) hide(x *index, u *user) {
	if o == nil || x.quiet {
		return
	}
	o.m.transitions[0].Inc()
	why := x.why
	if u.status == shared.StatusInvisible && len(u.sessions) > 0 {
		why = shared.ReasonInvisible
	}
	if o.feed != nil {
		o.feed.publish(u.id, false, "offline", why)
	}
}

// What the publisher counts.
const (
	countNotification = iota
	countSnapshot
	countResync
)

// count counts what the publisher sent, unless it is muted (standing by, it
// sends nothing).
func (p *publisher) count(what int) {
	if p.m == nil || p.mute {
		return
	}
	switch what {
	case countNotification:
		p.m.notifications.Inc()
	case countSnapshot:
		p.m.snapshots.Inc()
	case countResync:
		p.m.resyncsAsked.Inc()
	}
}
