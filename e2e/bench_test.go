package e2e

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
)

// BenchmarkConnectNotify measures the whole path in one process: each op is
// a user connecting (hello with 20 friends, all online and listing the user
// back), waiting for ready, and leaving; each of the 20 watchers is told
// twice. notes/s counts those notifications as the watchers read them.
func BenchmarkConnectNotify(b *testing.B) {
	const watchers, friends = 1000, 20
	ns := alotest.NATS(b)
	alotest.Presence(b, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(b, ns, gateway.Config{})
	var got atomic.Int64
	for w := 1; w <= watchers; w++ {
		var list []string
		for k := 0; k < friends; k++ { // churners whose friends include w
			list = append(list, fmt.Sprint(100_000+(w+k*watchers/friends)%watchers))
		}
		alotest.CountingSession(b, addr, fmt.Sprintf(`{"user_id": %d, "friends": [%s]}`, w, strings.Join(list, ",")), &got)
	}
	hello := func(u int) string {
		var list []string
		for k := 0; k < friends; k++ {
			list = append(list, fmt.Sprint(1+(u-100_000+watchers-k*watchers/friends)%watchers))
		}
		return fmt.Sprintf(`{"user_id": %d, "friends": [%s]}`+"\n", u, strings.Join(list, ","))
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		u := 100_000 + i%watchers
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprint(c, hello(u))
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.Contains(string(line), `"ready"`) {
				break
			}
		}
		c.Close()
	}
	want := int64(2 * friends * b.N)
	for got.Load() < want && time.Since(start) < time.Minute {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(got.Load())/time.Since(start).Seconds(), "notes/s")
}
