package gateway_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/internal/cli"
)

// A gateway whose NATS is gone stops within its drain timeout: it does not
// wait for a flush that cannot complete (nats.go's Flush waits 10 s),
// whether NATS is down (the connection knows) or silent (it does not yet).
func TestShutdownWithoutNATS(t *testing.T) {
	const drain = 500 * time.Millisecond
	for _, tc := range []struct {
		name string
		lose func(ns *server.Server, link *alotest.Proxy)
	}{
		{"nats stopped", func(ns *server.Server, _ *alotest.Proxy) { ns.Shutdown() }},
		{"nats silent", func(_ *server.Server, link *alotest.Proxy) { link.Stall() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := alotest.NATS(t)
			link := alotest.NewProxy(t, ns.Addr().String())
			nc := alotest.ConnURL(t, "nats://"+link.Addr)
			srv, err := gateway.New(nc, cli.Discard(), gateway.Config{DrainTimeout: drain, CloseGrace: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ctx, gateway.Listeners{TCP: ln}) }()
			// A session, so that shutdown has a close event to send.
			c := alotest.Dial(t, ln.Addr().String())
			c.Send(alotest.Hello(1, 2))
			alotest.WaitFor(t, alotest.Timeout, "the session", func() bool { return srv.Stats().Sessions == 1 })

			tc.lose(ns, link)
			start := time.Now()
			cancel()
			select {
			case err := <-served:
				if err != nil {
					t.Fatalf("Serve: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Serve did not return within 30s")
			}
			took := time.Since(start)
			t.Logf("stopped in %v (drain timeout %v)", took, drain)
			// Far below the 10 s of an unbounded flush, far above the
			// drain timeout: a slow machine does not fail this.
			if took > 5*time.Second {
				t.Fatalf("shutdown took %v, want about the drain timeout (%v)", took, drain)
			}
			c.ExpectError("shutdown")
		})
	}
}

// Serve is called once; a second call is an error, not a panic, and does not
// disturb the first.
func TestServeTwice(t *testing.T) {
	ns := alotest.NATS(t)
	srv, addr, _ := alotest.Gateway(t, ns, gateway.Config{})
	c := alotest.Dial(t, addr)
	c.Send(alotest.Hello(1))
	alotest.WaitFor(t, alotest.Timeout, "a session", func() bool { return srv.Stats().Sessions == 1 })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := srv.Serve(context.Background(), gateway.Listeners{TCP: ln}); err == nil {
		t.Fatal("a second Serve returned nil")
	}
	c.Send(`{"friends": [2]}`)
	c.Send(`{"online": false}`)
	c.ExpectClosed()
	alotest.WaitFor(t, alotest.Timeout, "the session to end", func() bool { return srv.Stats().Sessions == 0 })
}
