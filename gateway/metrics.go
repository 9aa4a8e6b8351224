package gateway

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alo-presence/alo/shared"
)

// metrics are a gateway's Prometheus metrics (docs/OPERATIONS.md lists
// them). They always exist, registered or not, so that the code counting
// never asks whether anyone listens: a counter's increment is one atomic
// add. Every labelled child is resolved here, once, so the hot paths never
// look a label up (a lookup hashes and may allocate). No label holds a user,
// a session or an address: cardinality stays fixed.
type metrics struct {
	// WebSocket connections and UDP sessions open; TCP connections are
	// the rest of the connection table.
	connsWS, connsUDP atomic.Int64
	accepted          prometheus.Counter
	refused           *prometheus.CounterVec
	msgIn             [msgKinds]prometheus.Counter
	delivered         prometheus.Counter
	bytesOut          prometheus.Counter
	disconnects       *prometheus.CounterVec
	dcSlow, dcRate    prometheus.Counter
	busDropped        [busDropKinds]prometheus.Counter
	slowConsumer      prometheus.Counter
	publishFailures   prometheus.Counter
	resyncs           prometheus.Counter
	helloReady        prometheus.Histogram
	deliverLatency    prometheus.Histogram

	// recvAt is when the dispatcher took the NATS message it is
	// delivering (nanoseconds since epoch, monotonic): one clock read per
	// message, however many sessions it reaches.
	recvAt atomic.Int64
}

// epoch anchors the monotonic nanosecond stamps the metrics keep.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

// The kinds of client message counted by alo_gateway_messages_received_total.
type msgKind int

const (
	msgHello msgKind = iota
	msgFriends
	msgLogout
	msgKeepalive
	msgOther
	msgInvalid
	msgKinds
)

var msgKindNames = [msgKinds]string{"hello", "friends", "logout", "keepalive", "other", "invalid"}

// The kinds of bus message the dispatcher drops.
type busDropKind int

const (
	busDropUserMessage busDropKind = iota // a message on a user's subject that is not a state message
	busDropControl                        // a control message that does not decode
	busDropPush                           // a push that is too big or not one JSON object
	busDropKinds
)

var busDropNames = [busDropKinds]string{"invalid_user_message", "invalid_control", "invalid_push"}

// Latency buckets, in seconds: from the ~10 µs of a loopback write to the
// seconds of a client that barely reads.
var latencyBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// newMetrics builds the gateway's metrics and registers them on reg, if it is
// not nil, with a gateway label (the gateway's id) so that several gateways
// in one process stay apart.
func newMetrics(srv *Server, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{}
	m.accepted = prometheus.NewCounter(prometheus.CounterOpts{Name: "alo_gateway_sessions_opened_total",
		Help: "Hellos accepted: sessions opened."})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alo_gateway_connections_refused_total",
		Help: "Connections ended before a session opened, by the error code the client was told (none: it closed or sent nothing)."}, []string{"reason"})
	msgIn := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alo_gateway_messages_received_total",
		Help: "Client messages received, by kind."}, []string{"kind"})
	for k := range m.msgIn {
		m.msgIn[k] = msgIn.WithLabelValues(msgKindNames[k])
	}
	m.delivered = prometheus.NewCounter(prometheus.CounterOpts{Name: "alo_gateway_notifications_delivered_total",
		Help: "Presence state messages from NATS queued to client sessions (one per session reached)."})
	m.bytesOut = prometheus.NewCounter(prometheus.CounterOpts{Name: "alo_gateway_sent_bytes_total",
		Help: "Bytes of client messages handed to the sockets (without WebSocket framing)."})
	m.disconnects = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alo_gateway_sessions_closed_total",
		Help: "Sessions ended, by reason."}, []string{"reason"})
	m.dcSlow = m.disconnects.WithLabelValues("slow_consumer")
	m.dcRate = m.disconnects.WithLabelValues("rate_limited")
	busDropped := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alo_gateway_bus_messages_dropped_total",
		Help: "Messages from NATS the gateway dropped as invalid, by kind."}, []string{"kind"})
	for k := range m.busDropped {
		m.busDropped[k] = busDropped.WithLabelValues(busDropNames[k])
	}
	m.slowConsumer = prometheus.NewCounter(prometheus.CounterOpts{Name: "alo_gateway_nats_slow_consumer_total",
		Help: "Times NATS reported that the gateway's inbox overflowed and messages were dropped (each starts a resync)."})
	m.publishFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "alo_gateway_publish_failures_total",
		Help: "Event batches that could not be published to NATS."})
	m.resyncs = prometheus.NewCounter(prometheus.CounterOpts{Name: "alo_gateway_resyncs_total",
		Help: "Resends of every session to presence."})
	m.helloReady = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "alo_gateway_hello_to_ready_seconds",
		Help: "Time from a session's hello to its ready being queued.", Buckets: latencyBuckets})
	m.deliverLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "alo_gateway_delivery_seconds",
		Help: "Time from the dispatcher taking a notification off NATS to the write of the batch holding it to the client's socket.", Buckets: latencyBuckets})
	if reg == nil {
		return m, nil
	}
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"gateway": srv.cfg.ID}, reg)
	state := &gatewayCollector{srv: srv,
		sessions: prometheus.NewDesc("alo_gateway_sessions", "Sessions open.", nil, nil),
		users:    prometheus.NewDesc("alo_gateway_users", "Users with at least one session open here.", nil, nil),
		conns:    prometheus.NewDesc("alo_gateway_connections", "Client connections open, by transport (a UDP connection is a UDP session).", []string{"transport"}, nil),
		recon:    prometheus.NewDesc("alo_gateway_nats_reconnects_total", "Reconnections to NATS.", nil, nil),
	}
	for _, c := range []prometheus.Collector{m.accepted, m.refused, msgIn, m.delivered, m.bytesOut,
		m.disconnects, busDropped, m.slowConsumer, m.publishFailures, m.resyncs, m.helloReady, m.deliverLatency, state} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// gatewayCollector reads, at scrape time, what the gateway's tables already
// count, so the paths that change them count nothing twice.
type gatewayCollector struct {
	srv                           *Server
	sessions, users, conns, recon *prometheus.Desc
}

func (c *gatewayCollector) Describe(chan<- *prometheus.Desc) {}

func (c *gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	srv := c.srv
	srv.mu.RLock()
	sessions, users, conns := len(srv.sessions), len(srv.users), len(srv.conns)
	srv.mu.RUnlock()
	// srv.conns holds TCP and WebSocket connections; UDP has none.
	ws := srv.metrics.connsWS.Load()
	tcp := max(int64(conns)-ws, 0)
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(sessions))
	ch <- prometheus.MustNewConstMetric(c.users, prometheus.GaugeValue, float64(users))
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(tcp), "tcp")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(ws), "websocket")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(srv.metrics.connsUDP.Load()), "udp")
	ch <- prometheus.MustNewConstMetric(c.recon, prometheus.CounterValue, float64(srv.nc.Stats().Reconnects))
}

// The hooks below are what the rest of the gateway calls.

// message counts a client message after the hello.
func (m *metrics) message(msg *shared.ClientMessage, blank bool) {
	switch {
	case blank:
		m.msgIn[msgKeepalive].Inc()
	case msg.HasOnline && !msg.Online:
		m.msgIn[msgLogout].Inc()
	case msg.HasFriends:
		m.msgIn[msgFriends].Inc()
	default:
		m.msgIn[msgOther].Inc()
	}
}

// refusedWith counts a connection that ended without a session.
func (m *metrics) refusedWith(d *disconnect) {
	code := "none"
	if d.err != nil {
		code = d.err.Code
	}
	m.refused.WithLabelValues(code).Inc()
}

// closed counts a session's end.
func (m *metrics) closed(d *disconnect) {
	switch {
	case d == nil:
		m.disconnects.WithLabelValues("unknown").Inc()
	case d == dcSlow:
		m.dcSlow.Inc()
	case d.err != nil && d.err.Code == shared.CodeRateLimited:
		m.dcRate.Inc()
	default:
		m.disconnects.WithLabelValues(reasonLabels[d.reason]).Inc()
	}
}

var reasonLabels = [...]string{"client_closed", "logout", "protocol_error", "idle", "slow_consumer", "write_failed", "unavailable", "shutdown", "kicked"}

// queued notes, under s.mu, that a notification is queued for s: the
// oldest one queued since the last write is the one whose latency counts.
func (m *metrics) queued(s *session, state bool) {
	if state {
		m.delivered.Inc()
	}
	if s.queuedAt == 0 {
		s.queuedAt = m.recvAt.Load()
	}
}

// handed notes, under s.mu, that the writer takes n queued bytes to write.
// A writer asks for more only once its previous write returned, so the
// previous batch's notifications are on the socket by now.
func (m *metrics) handed(s *session, n int) {
	if s.writingAt != 0 {
		m.deliverLatency.Observe(float64(nanotime()-s.writingAt) / 1e9)
	}
	s.writingAt, s.queuedAt = s.queuedAt, 0
	if n > 0 {
		m.bytesOut.Add(float64(n))
	}
}

// ready notes that s's ready is queued.
func (m *metrics) ready(s *session) {
	m.helloReady.Observe(float64(nanotime()-s.openedAt) / 1e9)
}

// hello counts a hello: accepted (refused nil) or the reason it was not.
func (m *metrics) hello(refused *disconnect) {
	if refused == nil {
		m.msgIn[msgHello].Inc()
		return
	}
	m.refusedWith(refused)
}
