package gateway_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// After a scripted scenario, the gateway's and presence's metrics say what
// happened: n users connect (one watching the others), one logs out, a
// client that does not read is cut off as slow, one that floods is cut off
// as rate limited, one hello is refused.
func TestMetricsCountWhatHappened(t *testing.T) {
	const n = 5 // user 1 watches users 2..n
	ns := alotest.NATS(t)
	preg, greg := prometheus.NewRegistry(), prometheus.NewRegistry()
	alotest.Presence(t, ns, presence.Config{Metrics: preg})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{ID: "gw-m", Metrics: greg, MaxQueueBytes: 64 << 10, RateLimit: 0.01, RateBurst: 20})

	friends := make([]int64, 0, n-1)
	for u := int64(2); u <= n; u++ {
		friends = append(friends, u)
	}
	watcher, _ := alotest.Connect(t, addr, 1, friends...)
	clients := map[int64]*alotest.Client{}
	for _, u := range friends {
		clients[u], _ = alotest.Connect(t, addr, u)
		watcher.ExpectState(u, true)
	}
	clients[2].Send(`{"online": false}`) // logout
	watcher.ExpectState(2, false)

	// A refused hello.
	bad := alotest.Dial(t, addr)
	bad.Send(`{"user_id": 0}`)
	refusal := bad.Next()

	// The slow client (user 100): a tiny receive buffer, and it never reads.
	conn, err := net.DialTimeout("tcp", addr, alotest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := fmt.Fprintln(conn, alotest.Hello(100)); err != nil {
		t.Fatal(err)
	}
	gw := func(name string, labels ...string) float64 {
		t.Helper()
		return gathered(t, greg, name, append([]string{"gateway", "gw-m"}, labels...)...)
	}
	alotest.WaitFor(t, alotest.Timeout, "the slow client's session", func() bool { return gw("alo_gateway_sessions") == n })
	nc := alotest.Conn(t, ns)
	subject := shared.MustSubjects("").Push(100)
	payload := []byte(`{"padding": "` + strings.Repeat("x", 200) + `"}`) // a push: no notification
	// Far more than the queue and the socket buffers hold; bounded.
	for i := 0; i < 100_000; i++ {
		if err := nc.Publish(subject, payload); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			nc.Flush()
			if gw("alo_gateway_sessions_closed_total", "reason", "slow_consumer") > 0 {
				break
			}
		}
	}
	alotest.WaitFor(t, alotest.Timeout, "the slow client cut off", func() bool {
		return gw("alo_gateway_sessions_closed_total", "reason", "slow_consumer") == 1
	})

	// The flooding client (user 101): more keep-alives than the burst.
	flood, _ := alotest.Connect(t, addr, 101)
	for range 30 {
		flood.Send("")
	}
	flood.ExpectError(shared.CodeRateLimited)

	alotest.WaitFor(t, alotest.Timeout, "sessions to settle", func() bool {
		return gw("alo_gateway_sessions") == n-1 && gathered(t, preg, "alo_presence_users") == n-1
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"alo_gateway_sessions", nil, n - 1},
		{"alo_gateway_users", nil, n - 1},
		{"alo_gateway_connections", []string{"transport", "tcp"}, n - 1},
		{"alo_gateway_sessions_opened_total", nil, n + 2},
		{"alo_gateway_messages_received_total", []string{"kind", "hello"}, n + 2},
		{"alo_gateway_messages_received_total", []string{"kind", "logout"}, 1},
		{"alo_gateway_messages_received_total", []string{"kind", "keepalive"}, 20},
		{"alo_gateway_connections_refused_total", []string{"reason", refusal.Error}, 1},
		{"alo_gateway_sessions_closed_total", []string{"reason", "logout"}, 1},
		{"alo_gateway_sessions_closed_total", []string{"reason", "slow_consumer"}, 1},
		{"alo_gateway_sessions_closed_total", []string{"reason", "rate_limited"}, 1},
		// Presence's state messages reaching user 1: n-1 online, one offline.
		{"alo_gateway_notifications_delivered_total", nil, n},
		{"alo_gateway_hello_to_ready_seconds_count", nil, n + 2},
		{"alo_gateway_publish_failures_total", nil, 0},
	} {
		if got := gw(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := gw("alo_gateway_delivery_seconds_count"); got < 1 {
		t.Errorf("alo_gateway_delivery_seconds_count = %v, want at least 1", got)
	}
	if got := gw("alo_gateway_sent_bytes_total"); got < 100 {
		t.Errorf("alo_gateway_sent_bytes_total = %v, want what was sent", got)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"alo_presence_users", nil, n - 1},
		{"alo_presence_sessions", nil, n - 1},
		{"alo_presence_gateways", nil, 1},
		{"alo_presence_transitions_total", []string{"to", "online"}, n + 2},
		{"alo_presence_transitions_total", []string{"to", "offline"}, 3},
		{"alo_presence_notifications_published_total", nil, n},
		{"alo_presence_leases_expired_total", nil, 0},
	} {
		if got := gathered(t, preg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The watch gauge is counted on presence's tick.
	alotest.WaitFor(t, alotest.Timeout, "watches counted", func() bool { return gathered(t, preg, "alo_presence_watches") == n-1 })
	if err := testutil.GatherAndCompare(greg, strings.NewReader(`
# HELP alo_gateway_sessions_closed_total Sessions ended, by reason.
# TYPE alo_gateway_sessions_closed_total counter
alo_gateway_sessions_closed_total{gateway="gw-m",reason="logout"} 1
alo_gateway_sessions_closed_total{gateway="gw-m",reason="rate_limited"} 1
alo_gateway_sessions_closed_total{gateway="gw-m",reason="slow_consumer"} 1
`), "alo_gateway_sessions_closed_total"); err != nil {
		t.Error(err)
	}
}

// gathered returns the value of the one series of name whose labels include
// the given pairs (0 when there is none); for a histogram, name_count and
// name_sum read its count and sum.
func gathered(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	base, part := name, ""
	for _, suffix := range []string{"_count", "_sum"} {
		if b, ok := strings.CutSuffix(name, suffix); ok {
			base, part = b, suffix
		}
	}
	for _, f := range families {
		if f.GetName() != name && f.GetName() != base {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil && part == "_count":
				return float64(m.Histogram.GetSampleCount())
			case m.Histogram != nil && part == "_sum":
				return m.Histogram.GetSampleSum()
			}
		}
	}
	return 0
}
