package gateway_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/shared"
)

// UDP at the edge (DESIGN §4, issue 10 item 6): the return-routability
// cookie, replies never larger than what they answer and metered per
// address, UDP sessions counted against the per-address cap.

// udpPeer is a raw UDP socket at a chosen loopback address: it sees every
// datagram the gateway sends it, cookies included.
type udpPeer struct {
	t  *testing.T
	c  *net.UDPConn
	to *net.UDPAddr
	in int // bytes received
}

func newUDPPeer(t *testing.T, gw, from string) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	to, err := net.ResolveUDPAddr("udp", gw)
	if err != nil {
		t.Fatal(err)
	}
	return &udpPeer{t: t, c: c, to: to}
}

func (p *udpPeer) send(b []byte) {
	p.t.Helper()
	if _, err := p.c.WriteToUDP(b, p.to); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next datagram, or nil if none comes within d.
func (p *udpPeer) recv(d time.Duration) []byte {
	buf := make([]byte, 64<<10)
	_ = p.c.SetReadDeadline(time.Now().Add(d))
	n, _, err := p.c.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	p.in += n
	return buf[:n]
}

func (p *udpPeer) must() map[string]any {
	p.t.Helper()
	b := p.recv(alotest.Timeout)
	if b == nil {
		p.t.Fatal("no datagram")
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		p.t.Fatalf("%q: %v", b, err)
	}
	return m
}

// padded is a hello of at least n bytes (an unknown field pads it, as a
// client pads its first hello so that the cookie reply fits).
func padded(hello string, n int) []byte {
	pad := max(0, n-len(hello)-len(`,"pad":""`))
	return []byte(hello[:len(hello)-1] + `,"pad":"` + strings.Repeat(".", pad) + `"}`)
}

func TestUDPCookieFlow(t *testing.T) {
	a := transportSystem(t, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{})
	watcher, _ := alotest.Connect(t, a.TCP, bystander, 1, barrier)
	p := newUDPPeer(t, a.UDP, "127.0.0.1")

	// Too short for the cookie reply: no answer at all.
	short := []byte(`{"user_id":1}`)
	p.send(short)
	if b := p.recv(300 * time.Millisecond); b != nil {
		t.Fatalf("a %d-byte hello got %q", len(short), b)
	}
	// A hello of the reply's size gets only the cookie, no larger.
	hello := padded(alotest.Hello(1), gateway.CookieReplyLen)
	p.send(hello)
	reply := p.recv(alotest.Timeout)
	var m map[string]string
	if err := json.Unmarshal(reply, &m); err != nil || len(m[shared.KeyCookie]) != gateway.CookieLen || len(m) != 1 {
		t.Fatalf("reply %q, want only a cookie", reply)
	}
	if len(reply) > len(hello) {
		t.Fatalf("the cookie reply (%d bytes) is larger than the hello (%d)", len(reply), len(hello))
	}
	cookie := m[shared.KeyCookie]

	// The cookie from another port of the same IP is no good: a fresh one.
	q := newUDPPeer(t, a.UDP, "127.0.0.1")
	q.send(alotest.WithCookie(hello, cookie))
	if got := q.must(); got[shared.KeyCookie] == nil || got[shared.KeyCookie] == cookie {
		t.Fatalf("someone else's cookie: %v, want a fresh cookie", got)
	}
	// A wrong cookie: a fresh one too.
	p.send(alotest.WithCookie(hello, "AAAAAAAAAAAA"))
	if got := p.must(); got[shared.KeyCookie] != cookie {
		t.Fatalf("a wrong cookie: %v, want the address's cookie", got)
	}
	// Echoed from the address it was sent to: the session opens.
	p.send(alotest.WithCookie(hello, cookie))
	if got := p.must(); got["ready"] != true {
		t.Fatalf("hello with the cookie: %v, want ready", got)
	}
	watcher.ExpectState(1, true)
	p.send([]byte(`{"online": false}`))
	watcher.ExpectState(1, false)
}

// A hello with a forged source address: its reply goes to the victim (here
// the socket that sent it, to see it). Nothing sent to an address without a
// session is larger than what came from it, whatever it is, and all of it
// is metered: the reflection of issue 10 (71x) is gone.
//
//	go test -run TestUDPReflection -v ./gateway/
func TestUDPReflection(t *testing.T) {
	const friends = 200
	run := func(t *testing.T, gate gateway.UDPGateConfig) (in, out int) {
		cfg := gateway.Config{MaxMessageBytes: 4096, UDPGate: gate, Admission: gateway.AdmissionConfig{MaxConnsPerIP: -1, ConnRatePerIP: -1}}
		a := transportSystem(t, cfg, gateway.WSConfig{}, gateway.UDPConfig{})
		ids := make([]int64, friends)
		for i := range ids {
			ids[i] = int64(100 + i)
		}
		for _, id := range ids { // the victim's hello names online users
			alotest.Connect(t, a.TCP, id)
		}
		// Each forged datagram claims the victim's address and some port:
		// a socket of its own here, which counts what reaches it.
		var victims []*udpPeer
		forge := func(b []byte) *udpPeer {
			v := newUDPPeer(t, a.UDP, "127.0.0.7")
			victims = append(victims, v)
			v.send(b)
			in += len(b)
			return v
		}
		for i := range 100 {
			forge([]byte(alotest.Hello(int64(1000+i), ids...)))
		}
		// Every case of no session: garbage, bad hellos, over the limit.
		for _, d := range []string{"x", "{}", `{"user_id":0}`, `{"user_id":1,"friends":"x"}`, strings.Repeat("y", 4097), `{"online":false}`} {
			b := []byte(d)
			if r := forge(b).recv(200 * time.Millisecond); len(r) > len(b) && !gate.NoCookie {
				t.Fatalf("a %d-byte datagram got a %d-byte reply: %q", len(b), len(r), r)
			}
		}
		var wg sync.WaitGroup
		for _, v := range victims {
			wg.Go(func() {
				for v.recv(300*time.Millisecond) != nil {
				}
			})
		}
		wg.Wait()
		for _, v := range victims {
			out += v.in
		}
		return in, out
	}
	t.Run("cookie", func(t *testing.T) {
		in, out := run(t, gateway.UDPGateConfig{RepliesPerIP: 10, ReplyBurst: 20})
		t.Logf("forged hellos: %d bytes in, %d bytes out to the victim: %.2fx", in, out, float64(out)/float64(in))
		if out > in {
			t.Fatalf("%d bytes out for %d in", out, in)
		}
	})
	t.Run("no cookie (before)", func(t *testing.T) {
		in, out := run(t, gateway.UDPGateConfig{NoCookie: true, RepliesPerIP: 1e6, ReplyBurst: 1e6})
		t.Logf("forged hellos without the cookie: %d bytes in, %d bytes out to the victim: %.2fx", in, out, float64(out)/float64(in))
	})
}

// UDP sessions count against the per-address cap, after the cookie, so a
// forged source cannot take a victim's slots.
func TestUDPSessionsPerIP(t *testing.T) {
	a := transportSystem(t, gateway.Config{Admission: gateway.AdmissionConfig{MaxConnsPerIP: 2, ConnRatePerIP: -1}}, gateway.WSConfig{}, gateway.UDPConfig{})
	open := func(p *udpPeer, user int64) map[string]any {
		hello := padded(alotest.Hello(user), 128)
		p.send(hello)
		cookie := p.must()[shared.KeyCookie]
		p.send(alotest.WithCookie(hello, fmt.Sprint(cookie)))
		return p.must()
	}
	for i := range 2 {
		if m := open(newUDPPeer(t, a.UDP, "127.0.0.8"), int64(1+i)); m["ready"] != true {
			t.Fatalf("session %d: %v", i, m)
		}
	}
	third := newUDPPeer(t, a.UDP, "127.0.0.8")
	if m := open(third, 3); m["error"] != shared.CodeTooManyConnections {
		t.Fatalf("third UDP session from one address: %v, want %s", m, shared.CodeTooManyConnections)
	}
	// Another address is unaffected; so is TCP from it.
	if m := open(newUDPPeer(t, a.UDP, "127.0.0.9"), 4); m["ready"] != true {
		t.Fatalf("another address: %v", m)
	}
	alotest.ConnectFrom(t, a.TCP, "127.0.0.9", 5)
}
