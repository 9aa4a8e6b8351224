package gateway_test

import (
	"bufio"
	"fmt"
	"net"
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
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, `{"user_id": %d}`+"\n", u)
		r := bufio.NewReader(c)
		if _, err := r.ReadSlice('\n'); err != nil { // ready
			b.Fatal(err)
		}
		go func() {
			for {
				if _, err := r.ReadSlice('\n'); err != nil {
					return
				}
				got.Add(1)
			}
		}()
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
