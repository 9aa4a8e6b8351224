package e2e

import (
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// The semantic tests of semantics_test.go, over each client transport: TCP,
// WebSocket and UDP, and mixed.

// peer is what the scenarios need of a client, on any transport.
type peer interface {
	Send(line string)
	Next() alotest.Msg
	ExpectState(user int64, online bool)
	ExpectClosed()
	Close()
	Pending() []alotest.Msg
}

// member is a connected user.
type member struct {
	peer
	id int64
}

// transport connects users over one kind of client connection.
type transport struct {
	name    string
	connect func(t *testing.T, a alotest.Addrs, user int64, friends ...int64) (member, []int64)
}

var transports = []transport{
	{"tcp", func(t *testing.T, a alotest.Addrs, user int64, friends ...int64) (member, []int64) {
		c, online := alotest.Connect(t, a.TCP, user, friends...)
		return member{c, user}, online
	}},
	{"ws", func(t *testing.T, a alotest.Addrs, user int64, friends ...int64) (member, []int64) {
		c, online := alotest.ConnectWS(t, a.WS, user, friends...)
		return member{c, user}, online
	}},
	{"udp", func(t *testing.T, a alotest.Addrs, user int64, friends ...int64) (member, []int64) {
		c, online := alotest.ConnectUDP(t, a.UDP, user, friends...)
		return member{c, user}, online
	}},
}

// udpIdle is short so that a UDP client that goes quiet is soon offline;
// connected test clients send a keep-alive every alotest.UDPKeepAlive.
const udpIdle = time.Second

// allTransports is one NATS, one presence, and one gateway serving every
// transport.
func allTransports(t *testing.T, pcfg presence.Config) alotest.Addrs {
	t.Helper()
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, pcfg)
	_, a, _ := alotest.GatewayAll(t, ns, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{IdleTimeout: udpIdle})
	return a
}

// barrierAll is barrier for members on any transport: barrierUser connects
// over TCP, and its arrival and departure must be the next things each
// watcher hears.
func barrierAll(t *testing.T, a alotest.Addrs, watchers ...member) {
	t.Helper()
	var ids []int64
	for _, w := range watchers {
		ids = append(ids, w.id)
	}
	b, _ := alotest.Connect(t, a.TCP, barrierUser, ids...)
	for _, w := range watchers {
		w.ExpectState(barrierUser, true)
	}
	b.Send(`{"online": false}`)
	b.ExpectClosed()
	for _, w := range watchers {
		w.ExpectState(barrierUser, false)
	}
}

func eachTransport(t *testing.T, f func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { f(t, tr) })
	}
}

func TestTransportOnlineAndOfflineBothWays(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		a := allTransports(t, presence.Config{})
		x, snap := tr.connect(t, a, 1, 2)
		wantOnline(t, snap)
		y, snap := tr.connect(t, a, 2, 1)
		wantOnline(t, snap, 1)
		x.ExpectState(2, true)

		y.Close()
		x.ExpectState(2, false)

		_, snap = tr.connect(t, a, 2, 1)
		wantOnline(t, snap, 1)
		x.ExpectState(2, true)
		x.Send(`{"online": false}`)
		x.ExpectClosed()
	})
}

func TestTransportSnapshotThenReady(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		a := allTransports(t, presence.Config{})
		tr.connect(t, a, 2)
		tr.connect(t, a, 3, 1)
		_, snap := tr.connect(t, a, 1, 2, 3, 4, 2, 1) // duplicates and self are dropped
		wantOnline(t, snap, 2, 3)
	})
}

func TestTransportSecondSessionChangesNothing(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		a := allTransports(t, presence.Config{})
		w, _ := tr.connect(t, a, 10, 1, barrierUser)
		s1, _ := tr.connect(t, a, 1, 10)
		w.ExpectState(1, true)
		s2, snap := tr.connect(t, a, 1, 10)
		wantOnline(t, snap, 10)
		barrierAll(t, a, w)

		w.Send(`{"online": false}`)
		s1.ExpectState(10, false)
		s2.ExpectState(10, false)
		w, _ = tr.connect(t, a, 10, 1, barrierUser)
		s1.ExpectState(10, true)
		s2.ExpectState(10, true)

		s1.Close()
		barrierAll(t, a, w) // no offline after the first close
		s2.Send(`{"user_id": 1, "online": false}`)
		s2.ExpectClosed()
		w.ExpectState(1, false)
	})
}

func TestTransportFriendListUpdate(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		a := allTransports(t, presence.Config{})
		x, _ := tr.connect(t, a, 1, 2, barrierUser)
		c, _ := tr.connect(t, a, 3)
		x.Send(`{"friends": [2, 3, 3, 1, 999999]}`)
		x.ExpectState(3, true)
		c.Close()
		x.ExpectState(3, false)

		// Adding an offline friend is answered with its state: proof that
		// the update was applied (a barrier proves nothing about a message
		// the gateway may not have read yet).
		x.Send(`{"friends": [2, 999999, 777]}`)
		x.ExpectState(777, false)
		tr.connect(t, a, 3)
		barrierAll(t, a, x) // 3 is no longer watched
		x.Send(`{"friends": [2, 3, 999999]}`)
		x.ExpectState(3, true)
	})
}

func TestTransportMutualPolicy(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		a := allTransports(t, presence.Config{Policy: presence.PolicyMutual})
		x, _ := tr.connect(t, a, 1, 2, barrierUser)
		y, snap := tr.connect(t, a, 2, barrierUser) // does not list 1
		wantOnline(t, snap)
		barrierAll(t, a, x, y)

		y.Send(`{"friends": [1, 999999]}`)
		y.ExpectState(1, true)
		x.ExpectState(2, true)
		y.Send(`{"friends": [999999]}`)
		x.ExpectState(2, false)
		barrierAll(t, a, x, y)
	})
}

// Anyone may publish to a user's subject and reach the user's sessions on
// every transport.
func TestTransportUserSubject(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, a, _ := alotest.GatewayAll(t, ns, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{IdleTimeout: udpIdle})
	var sessions []member
	for _, tr := range transports {
		m, _ := tr.connect(t, a, 7)
		sessions = append(sessions, m)
	}
	nc := alotest.Conn(t, ns)
	subject := shared.MustSubjects("").User(7)
	nc.Publish(subject, []byte(`{"user_id":42,"online":true}`))
	nc.Publish(subject, []byte("{\"a\":\n1}")) // dropped: not one line
	nc.Publish(subject, []byte(`{"user_id":42,"online":false}`))
	for _, s := range sessions {
		s.ExpectState(42, true)
		s.ExpectState(42, false)
	}
}

// Users on different transports of one gateway, and on another gateway,
// see each other come and go: a TCP user is told about a WebSocket friend
// and a UDP friend, and they about it.
func TestTransportsMixed(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, a, _ := alotest.GatewayAll(t, ns, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{IdleTimeout: udpIdle})
	_, b, stopB := alotest.GatewayAll(t, ns, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{IdleTimeout: udpIdle})

	tcp, snap := alotest.Connect(t, a.TCP, 1, 2, 3, barrierUser)
	wantOnline(t, snap)
	ws, snap := alotest.ConnectWS(t, a.WS, 2, 1, 3, barrierUser)
	wantOnline(t, snap, 1)
	tcp.ExpectState(2, true)
	udp, snap := alotest.ConnectUDP(t, a.UDP, 3, 1, 2, barrierUser)
	wantOnline(t, snap, 1, 2)
	tcp.ExpectState(3, true)
	ws.ExpectState(3, true)

	// Each leaves its own way; the others hear it.
	udp.Close() // falls silent: the session times out
	tcp.ExpectState(3, false)
	ws.ExpectState(3, false)
	ws.Close()
	tcp.ExpectState(2, false)

	// Back, on the other gateway's WebSocket and UDP.
	ws, snap = alotest.ConnectWS(t, b.WS, 2, 1)
	wantOnline(t, snap, 1)
	tcp.ExpectState(2, true)
	udp, snap = alotest.ConnectUDP(t, b.UDP, 3, 1)
	wantOnline(t, snap, 1)
	tcp.ExpectState(3, true)
	tcp.Send(`{"online": false}`)
	ws.ExpectState(1, false)
	udp.ExpectState(1, false)

	// The TCP user returns; then gateway B stops, and its users go offline.
	tcp, snap = alotest.Connect(t, a.TCP, 1, 2, 3)
	wantOnline(t, snap, 2, 3)
	ws.ExpectState(1, true)
	udp.ExpectState(1, true)
	stopB()
	got := map[int64]bool{}
	for range 2 {
		m := tcp.Next()
		if !m.IsState() || *m.Online {
			t.Fatalf("got %s, want an offline", m)
		}
		got[*m.UserID] = true
	}
	if !got[2] || !got[3] {
		t.Fatalf("offline for %v, want 2 and 3", got)
	}
	udp.ExpectError(shared.CodeShutdown)
}

// After shutdown no goroutine of the gateway is left, with WebSocket and
// UDP clients in every state.
func TestNoGoroutineLeftAfterTransportsShutdown(t *testing.T) {
	ns := alotest.NATS(t)
	stopPresence := alotest.Presence(t, ns, presence.Config{})
	_, a, stop := alotest.GatewayAll(t, ns, gateway.Config{HelloTimeout: time.Minute}, gateway.WSConfig{}, gateway.UDPConfig{})
	w, _ := alotest.ConnectWS(t, a.WS, 1, 2)
	alotest.ConnectUDP(t, a.UDP, 2, 1)
	w.ExpectState(2, true)
	alotest.DialWS(t, a.WS)                     // never says hello
	alotest.DialWS(t, a.WS).Send(`{"user_id":`) // half a hello
	u := alotest.DialUDP(t, a.UDP)
	u.Send(`{"user_id": 3}`)
	u.Send(`{"online": false}`)
	stop()
	stopPresence()
	alotest.WaitFor(t, alotest.Timeout, "goroutines to end", func() bool {
		return ours() == ""
	})
}
