// Package alotest starts real ALO parts for tests: an embedded NATS server on
// a random loopback port, presence, gateways, and line-protocol clients over
// real TCP. Everything it starts is stopped by t.Cleanup.
package alotest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/presence"
)

// Timeout is how long tests wait for something that should happen. It is
// generous because CI machines are shared; waits end as soon as the
// condition holds.
const Timeout = 10 * time.Second

// NATS starts a NATS server on a random loopback port.
func NATS(t testing.TB) *server.Server {
	t.Helper()
	return NATSOn(t, server.RANDOM_PORT)
}

// NATSOn starts a NATS server on a given loopback port (for restarts).
func NATSOn(t testing.TB, port int) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(Timeout) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// Conn connects to ns with the options ALO's binaries use.
func Conn(t testing.TB, ns *server.Server) *nats.Conn {
	t.Helper()
	return ConnURL(t, ns.ClientURL())
}

// ConnURL connects to a NATS URL (a Proxy's, say) with the options ALO's
// binaries use.
func ConnURL(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, cli.NATSOptions("test", cli.Discard())...)
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Presence runs a presence service on its own connection to ns. A zero
// Rebuild in cfg means none here, since tests start presence first. The
// returned function stops it and waits.
func Presence(t testing.TB, ns *server.Server, cfg presence.Config) (stop func()) {
	t.Helper()
	if cfg.Rebuild == 0 {
		cfg.Rebuild = -1
	}
	return PresenceOn(t, Conn(t, ns), cfg)
}

// PresenceOn is Presence on a given NATS connection (one logged in as
// presence, say).
func PresenceOn(t testing.TB, nc *nats.Conn, cfg presence.Config) (stop func()) {
	t.Helper()
	if cfg.Rebuild == 0 {
		cfg.Rebuild = -1
	}
	svc, err := presence.New(nc, cli.Discard(), cfg)
	if err != nil {
		t.Fatalf("presence: %v", err)
	}
	return run(t, svc.Run)
}

// Gateway runs a gateway on its own connection to ns, listening on a random
// loopback port. It returns the server, its address, and a function that
// stops it and waits for it to drain.
func Gateway(t testing.TB, ns *server.Server, cfg gateway.Config) (*gateway.Server, string, func()) {
	t.Helper()
	return GatewayOn(t, Conn(t, ns), cfg)
}

// GatewayOn is Gateway on a given NATS connection.
func GatewayOn(t testing.TB, nc *nats.Conn, cfg gateway.Config) (*gateway.Server, string, func()) {
	t.Helper()
	srv, err := gateway.New(nc, cli.Discard(), LoopbackLimits(cfg))
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, func(ctx context.Context) error { return srv.Serve(ctx, gateway.Listeners{TCP: ln}) })
	return srv, ln.Addr().String(), stop
}

// LoopbackLimits returns cfg with the limits that assume one client per
// address or one person turned off where cfg leaves them zero: every test
// client comes from 127.0.0.1, so the per-address connection cap and rate,
// and the rate of UDP replies to addresses without a session, would meter
// the whole test as one client; and tests reconnect the same few users
// many times a second, which the friend-update rate would refuse. Tests of
// those limits set them.
func LoopbackLimits(cfg gateway.Config) gateway.Config {
	if cfg.Admission.MaxConnsPerIP == 0 {
		cfg.Admission.MaxConnsPerIP = -1
	}
	if cfg.Admission.ConnRatePerIP == 0 {
		cfg.Admission.ConnRatePerIP = -1
	}
	if cfg.Users.FriendUpdatesPerSec == 0 {
		// Tests reconnect the same few users many times a second.
		cfg.Users.FriendUpdatesPerSec = -1
	}
	if cfg.UDPGate.RepliesPerIP == 0 {
		cfg.UDPGate.RepliesPerIP, cfg.UDPGate.ReplyBurst = 1e6, 1e6
	}
	return cfg
}

// run runs f until the returned stop is called (or the test ends).
func run(t testing.TB, f func(context.Context) error) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stopped with error: %v", err)
			}
		case <-time.After(Timeout):
			t.Errorf("did not stop within %v", Timeout)
		}
	}
	t.Cleanup(stop)
	return stop
}

// WaitFor polls cond until it holds or the timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
