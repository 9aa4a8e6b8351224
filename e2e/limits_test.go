package e2e

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/shared"
)

// Issue 10: with a 1,024-file limit, 1,011 idle sockets from one machine
// locked every new login and /healthz out. The real alo, with a file limit
// of 256 and its default --max-conns (the limit less 64): 250 idle
// connections fill it, and then a new client is told too_many_connections
// at once (not left hanging in the backlog), /healthz answers, and a
// connection given back lets a client in.
func TestTotalCapBelowFileLimit(t *testing.T) {
	const nofile, idle = 256, 250
	p := alotest.StartNoFile(t, nofile, "alo", "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--udp", "",
		"--hello-timeout", "1m", "--max-conns-per-ip", "0", "--conn-rate-per-ip", "0")
	tcp, web := p.Addr("clients"), p.Addr("http")
	var held []net.Conn
	refused := 0
	for range idle {
		c, err := net.DialTimeout("tcp", tcp, alotest.Timeout)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		held = append(held, c)
	}
	// The ones past the cap were told and closed; the rest are held.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range held {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil && strings.Contains(line, shared.CodeTooManyConnections) {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if want := idle - (nofile - 64); refused != want {
		t.Fatalf("%d of %d idle connections refused, want %d (--max-conns = %d - 64)", refused, idle, want, nofile)
	}
	for range 3 {
		resp, err := (&http.Client{Timeout: alotest.Timeout}).Get("http://" + web + "/healthz")
		if err != nil {
			t.Fatalf("/healthz with the gateway full: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz with the gateway full: %s", resp.Status)
		}
	}
	c := alotest.Dial(t, tcp)
	c.Send(alotest.Hello(1))
	c.ExpectError(shared.CodeTooManyConnections)
	c.ExpectClosed()
	// Give connections back: a login works again.
	for _, c := range held {
		c.Close()
	}
	alotest.WaitFor(t, alotest.Timeout, "a login admitted", func() bool {
		c := alotest.Dial(t, tcp)
		defer c.Close()
		c.Send(alotest.Hello(1))
		return c.Next().Ready
	})
}
