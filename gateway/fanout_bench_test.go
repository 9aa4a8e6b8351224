package gateway_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// BenchmarkFanOut measures a gateway delivering notifications from NATS to
// 1,000 sessions over real loopback TCP: each op is one notification
// published to a user's subject and read by that user's client.
func BenchmarkFanOut(b *testing.B) {
	const sessions = 1000
	ns := alotest.NATS(b)
	alotest.Presence(b, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(b, ns, gateway.Config{})
	var got atomic.Int64
	for u := 1; u <= sessions; u++ {
		alotest.CountingSession(b, addr, fmt.Sprintf(`{"user_id": %d}`, u), &got)
	}
	nc := alotest.Conn(b, ns)
	subjects := shared.MustSubjects("")
	subs := make([]string, sessions)
	for i := range subs {
		subs[i] = subjects.User(int64(i + 1))
	}
	payload := shared.AppendState(nil, 42, true)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if err := nc.Publish(subs[i%sessions], payload); err != nil {
			b.Fatal(err)
		}
	}
	nc.Flush()
	for got.Load() < int64(b.N) {
		if time.Since(start) > time.Minute {
			b.Fatalf("delivered %d of %d", got.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "notes/s")
}
