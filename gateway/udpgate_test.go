package gateway

import (
	"bufio"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/alo-presence/alo/shared"
)

func TestUDPGateCookieFlow(t *testing.T) {
	g := newUDPGate(false, 0, DefaultUDPRepliesPerIP, DefaultUDPReplyBurst)
	client := netip.MustParseAddrPort("192.0.2.1:40000")
	hello := `{"user_id":1,"friends":[2]}` + "\n"

	// 1. No cookie: the reply is the cookie, no larger than the hello.
	reply, ok := g.checkHello(nil, client, "", len(hello))
	if ok || reply == nil {
		t.Fatalf("hello without a cookie: ok %v, reply %q", ok, reply)
	}
	if len(reply) > len(hello) {
		t.Fatalf("reply %d bytes to a hello of %d", len(reply), len(hello))
	}
	var m map[string]string
	if err := json.Unmarshal(reply, &m); err != nil {
		t.Fatalf("reply %q: %v", reply, err)
	}
	cookie := m[shared.KeyCookie]

	// 2. The hello again, with the cookie: on to the session.
	withCookie := strings.TrimSuffix(hello, "}\n") + `,"cookie":"` + cookie + `"}` + "\n"
	if reply, ok := g.checkHello(nil, client, cookie, len(withCookie)); !ok || reply != nil {
		t.Fatalf("hello with its cookie: ok %v, reply %q", ok, reply)
	}
	// From another port, the same cookie is worth nothing.
	other := netip.MustParseAddrPort("192.0.2.1:40001")
	if _, ok := g.checkHello(nil, other, cookie, len(withCookie)); ok {
		t.Fatal("another port's cookie opens a session")
	}
}

func TestUDPGateForgedSources(t *testing.T) {
	g := newUDPGate(false, 0, 10, 20)
	victim := netip.MustParseAddrPort("198.51.100.7:53")
	for _, tc := range []struct {
		name      string
		size      int
		wantReply bool
	}{
		{"minimal hello", len(`{"user_id":1}`), false},
		{"one byte short", CookieReplyLen - 1, false},
		{"just long enough", CookieReplyLen, true},
		{"big hello", 1400, true},
	} {
		reply, ok := g.checkHello(nil, victim, "", tc.size)
		if ok {
			t.Fatalf("%s: a hello without a cookie goes on", tc.name)
		}
		if (reply != nil) != tc.wantReply || len(reply) > tc.size {
			t.Fatalf("%s: %d-byte hello answered with %d bytes (%q)", tc.name, tc.size, len(reply), reply)
		}
	}
	// A flood of forged hellos from the victim's address: at most the burst
	// is answered at once, and never more bytes than came in.
	in, out, replies := 0, 0, 0
	for range 1000 {
		in += 1400
		if reply, _ := g.checkHello(nil, victim, "", 1400); reply != nil {
			out += len(reply)
			replies++
		}
	}
	if replies > 20 || out > in {
		t.Fatalf("1000 forged hellos: %d replies, %d bytes out for %d in", replies, out, in)
	}
	// Errors to the address are metered with the cookies, and cut to fit.
	g2 := newUDPGate(false, 0, 10, 20)
	pe := &shared.ProtocolError{Code: shared.CodeBadJSON, Message: "a message must be a JSON object, and this one is not, as you can see"}
	for _, n := range []int{1, 10, len(`{"error":"bad_json"}`), 40, 200} {
		b := g2.errorReply(nil, victim, pe, n)
		if len(b) > n {
			t.Fatalf("a %d-byte datagram answered with %d bytes: %q", n, len(b), b)
		}
		if b != nil && !json.Valid(b) {
			t.Fatalf("not JSON: %q", b)
		}
		if (b != nil) != (n >= len(`{"error":"bad_json"}`)+1) {
			t.Fatalf("a %d-byte datagram: reply %q", n, b)
		}
	}
}

func TestUDPGateCookieOff(t *testing.T) {
	g := newUDPGate(true, 0, 10, 20)
	if reply, ok := g.checkHello(nil, netip.MustParseAddrPort("192.0.2.1:1"), "", 5); !ok || reply != nil {
		t.Fatalf("cookie off: ok %v, reply %q", ok, reply)
	}
}

func TestRefuseConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			refuseConn(c, refusedTotal.Protocol())
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Error, Message string }
	if err := json.Unmarshal([]byte(line), &m); err != nil || m.Error != shared.CodeTooManyConnections {
		t.Fatalf("%q: %v", line, err)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the connection stays open after the refusal")
	}
}
