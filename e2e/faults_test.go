package e2e

import (
	"fmt"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/alo-presence/alo/internal/alotest"
)

// Short heartbeats and leases keep the fault tests quick; deadlines are
// derived from them, with slack for a slow, shared machine.
const (
	heartbeat = 200 * time.Millisecond
	lease     = 600 * time.Millisecond
	slack     = 2 * time.Second
)

var (
	presenceFlags = []string{"--lease", lease.String()}
	gatewayFlags  = []string{"--heartbeat", heartbeat.String()}
)

// cluster is NATS (in the test process, on a port of its own so it can be
// restarted), presence and gateways as processes.
type cluster struct {
	t        *testing.T
	nats     *server.Server
	natsPort int
	url      string
}

func newCluster(t *testing.T) *cluster {
	ns := alotest.NATS(t)
	_, port, _ := net.SplitHostPort(ns.Addr().String())
	p, _ := strconv.Atoi(port)
	return &cluster{t: t, nats: ns, natsPort: p, url: ns.ClientURL()}
}

func (c *cluster) presence(extra ...string) *alotest.Process {
	return alotest.Start(c.t, "presence", append(append([]string{"--nats", c.url}, presenceFlags...), extra...)...)
}

func (c *cluster) gateway(id string) *gatewayProc {
	return StartGateway(c.t, c.url, append([]string{"--id", id}, gatewayFlags...)...)
}

// expectStates reads len(want) state messages in any order and checks they
// are exactly want (user → online). It returns when the last arrived.
func expectStates(t *testing.T, c *alotest.Client, want map[int64]bool) {
	t.Helper()
	left := map[int64]bool{}
	for k, v := range want {
		left[k] = v
	}
	for len(left) > 0 {
		m := c.Next()
		if !m.IsState() {
			t.Fatalf("got %s, want states %v", m, left)
		}
		online, ok := left[*m.UserID]
		if !ok || online != *m.Online {
			t.Fatalf("got %s, want one of %v", m, left)
		}
		delete(left, *m.UserID)
	}
}

func within(t *testing.T, what string, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	took := time.Since(start)
	t.Logf("%s: %v (limit %v)", what, took.Round(time.Millisecond), limit)
	if took > limit {
		t.Errorf("%s took %v, more than %v", what, took, limit)
	}
	return took
}

// A gateway killed with SIGKILL: every friend of its users, on another
// gateway, is told offline within the lease (plus slack), and nobody stays
// online.
func TestGatewayKilled(t *testing.T) {
	c := newCluster(t)
	c.presence()
	gwA, gwB := c.gateway("a"), c.gateway("b")
	w, _ := alotest.Connect(t, gwA.TCP, 100, 1, 2, 3, 4, 5, barrierUser)
	want := map[int64]bool{}
	for u := int64(1); u <= 5; u++ {
		alotest.Connect(t, gwB.TCP, u, 100)
		w.ExpectState(u, true)
		want[u] = false
	}
	start := time.Now()
	gwB.Signal(syscall.SIGKILL)
	expectStates(t, w, want)
	within(t, "offline after gateway SIGKILL", start, lease+slack)
	barrier(t, gwA.TCP, w) // and nothing else came, nor comes back
}

// A gateway stopped with SIGTERM drains: its users' friends hear offline
// within a second.
func TestGatewayTerminated(t *testing.T) {
	c := newCluster(t)
	c.presence()
	gwA, gwB := c.gateway("a"), c.gateway("b")
	w, _ := alotest.Connect(t, gwA.TCP, 100, 1, 2, 3)
	for u := int64(1); u <= 3; u++ {
		alotest.Connect(t, gwB.TCP, u)
		w.ExpectState(u, true)
	}
	start := time.Now()
	gwB.Signal(syscall.SIGTERM)
	expectStates(t, w, map[int64]bool{1: false, 2: false, 3: false})
	within(t, "offline after gateway SIGTERM", start, time.Second+slack)
	if err := gwB.Wait(); err != nil {
		t.Fatalf("gateway exit after SIGTERM: %v", err)
	}
}

// Presence killed and restarted: users who stayed connected are not
// reported offline; a user who left during the outage is reported offline,
// one who came is reported online, and notifications flow again.
func TestPresenceRestarted(t *testing.T) {
	c := newCluster(t)
	p := c.presence()
	gwA, gwB := c.gateway("a"), c.gateway("b")
	w, _ := alotest.Connect(t, gwA.TCP, 100, 1, 2, 3, 4, barrierUser)
	alotest.Connect(t, gwB.TCP, 1, 100) // stays
	leaver, _ := alotest.Connect(t, gwB.TCP, 2)
	w.ExpectState(1, true)
	w.ExpectState(2, true)

	p.Signal(syscall.SIGKILL)
	p.Wait()
	leaver.Close()
	comer := alotest.Dial(t, gwB.TCP) // joins while presence is away
	comer.Send(alotest.Hello(3))
	start := time.Now()
	c.presence()

	expectStates(t, w, map[int64]bool{2: false, 3: true})
	within(t, "state rebuilt after presence restart", start, lease+slack)
	if snap := comer.AwaitReady(); len(snap) != 0 {
		t.Fatalf("snapshot %v for a user without friends", snap)
	}
	alotest.Connect(t, gwB.TCP, 4)
	w.ExpectState(4, true) // notifications flow again
	barrier(t, gwA.TCP, w) // and 1 was never reported offline
}

// NATS stopped and restarted on the same port: gateways and presence
// reconnect and resynchronise; the state converges and notifications flow.
func TestNATSRestarted(t *testing.T) {
	c := newCluster(t)
	c.presence()
	gwA, gwB := c.gateway("a"), c.gateway("b")
	w, _ := alotest.Connect(t, gwA.TCP, 100, 1, 2, 3, barrierUser)
	stays, _ := alotest.Connect(t, gwB.TCP, 1, 100)
	leaver, _ := alotest.Connect(t, gwB.TCP, 2)
	w.ExpectState(1, true)
	w.ExpectState(2, true)

	stopNATS(t, c)
	leaver.Close()
	start := time.Now()
	alotest.NATSOn(t, c.natsPort)
	w.ExpectState(2, false)
	within(t, "converged after NATS restart", start, lease+slack+2*time.Second)
	// Both gateways resend their sessions (on reconnecting, and again when
	// presence, reconnecting too, asks): a resend that crosses the first
	// correction repeats "2 offline", which is allowed after a fault.
	repeat := func(m alotest.Msg) bool { return m.IsState() && *m.UserID == 2 && !*m.Online }
	alotest.Connect(t, gwB.TCP, 3)
	w.ExpectStateSkipping(3, true, repeat)
	b, _ := alotest.Connect(t, gwA.TCP, barrierUser)
	w.ExpectStateSkipping(barrierUser, true, repeat) // nothing else came
	b.Close()
	w.ExpectStateSkipping(barrierUser, false, repeat)
	stays.Send(`{"online": false}`)
	w.ExpectStateSkipping(1, false, repeat)
}

// stopNATS shuts down the cluster's NATS server (the one the test started).
func stopNATS(t *testing.T, c *cluster) {
	t.Helper()
	c.nats.Shutdown()
	alotest.WaitFor(t, alotest.Timeout, "nats to stop", func() bool {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.natsPort))
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
}

// A gateway paused (SIGSTOP) past its lease has its users reported offline;
// resumed (SIGCONT), it re-registers them and they are online again.
func TestGatewayPaused(t *testing.T) {
	c := newCluster(t)
	c.presence()
	gwA, gwB := c.gateway("a"), c.gateway("b")
	w, _ := alotest.Connect(t, gwA.TCP, 100, 1, 2)
	alotest.Connect(t, gwB.TCP, 1)
	alotest.Connect(t, gwB.TCP, 2)
	w.ExpectState(1, true)
	w.ExpectState(2, true)

	start := time.Now()
	gwB.Signal(syscall.SIGSTOP)
	expectStates(t, w, map[int64]bool{1: false, 2: false})
	within(t, "offline after gateway SIGSTOP", start, lease+slack)
	start = time.Now()
	gwB.Signal(syscall.SIGCONT)
	expectStates(t, w, map[int64]bool{1: true, 2: true})
	within(t, "online again after SIGCONT", start, lease+slack)
}

// A gateway cut off from NATS (NATS itself stays up for everyone else): its
// users are reported offline within the lease; the gateway keeps their
// connections and, once NATS is reachable again, registers them anew, so
// they are reported online again without reconnecting.
func TestGatewayCutOffFromNATS(t *testing.T) {
	c := newCluster(t)
	c.presence()
	gwA := c.gateway("a")
	link := alotest.NewProxy(t, c.nats.Addr().String())
	gwB := StartGateway(t, "nats://"+link.Addr, append([]string{"--id", "b"}, gatewayFlags...)...)
	w, _ := alotest.Connect(t, gwA.TCP, 100, 1, 2)
	u1, _ := alotest.Connect(t, gwB.TCP, 1, 100)
	alotest.Connect(t, gwB.TCP, 2)
	w.ExpectState(1, true)
	w.ExpectState(2, true)

	start := time.Now()
	link.Cut()
	expectStates(t, w, map[int64]bool{1: false, 2: false})
	within(t, "offline after gateway cut off from NATS", start, lease+slack)

	start = time.Now()
	link.Restore()
	expectStates(t, w, map[int64]bool{1: true, 2: true})
	within(t, "online again after the link came back", start, lease+slack+2*time.Second)
	// The kept session works as before: it hears its friend leave.
	w.Send(`{"online": false}`)
	u1.ExpectState(100, false)
}
