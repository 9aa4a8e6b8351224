package gateway_test

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// messageCase is a bad input that means the same on every transport: what
// one message (a line, a text frame, a datagram) says.
type messageCase struct {
	name  string
	hello string   // sent first
	then  []string // sent after a valid hello as user 1
	code  string
	fatal bool
}

// messageCases are the bad-input cases of DESIGN §4 that do not depend on
// framing; each transport's test adds its own.
func messageCases() []messageCase {
	return []messageCase{
		{name: "not json", hello: `hello`, code: shared.CodeBadJSON, fatal: true},
		{name: "empty object", hello: `{}`, code: shared.CodeHelloRequired, fatal: true},
		{name: "user_id missing", hello: `{"friends": [2]}`, code: shared.CodeHelloRequired, fatal: true},
		{name: "user_id 0", hello: `{"user_id": 0}`, code: shared.CodeBadUserID, fatal: true},
		{name: "user_id negative", hello: `{"user_id": -1}`, code: shared.CodeBadUserID, fatal: true},
		{name: "user_id fractional", hello: `{"user_id": 1.5}`, code: shared.CodeBadUserID, fatal: true},
		{name: "user_id string", hello: `{"user_id": "1"}`, code: shared.CodeBadUserID, fatal: true},
		{name: "user_id 2^63", hello: `{"user_id": 9223372036854775808}`, code: shared.CodeBadUserID, fatal: true},
		{name: "user_id 1e400", hello: `{"user_id": 1e400}`, code: shared.CodeBadUserID, fatal: true},
		{name: "friends not array", hello: `{"user_id": 1, "friends": 2}`, code: shared.CodeBadFriends, fatal: true},
		{name: "friends non-integers", hello: `{"user_id": 1, "friends": [2, "x"]}`, code: shared.CodeBadFriends, fatal: true},
		{name: "duplicate keys", hello: `{"user_id": 1, "user_id": 2}`, code: shared.CodeDuplicateKey, fatal: true},
		{name: "too many friends", hello: `{"user_id": 1, "friends": [2, 3, 4, 5, 6]}`, code: shared.CodeTooManyFriends, fatal: true},
		{name: "logout before hello", hello: `{"user_id": 1, "online": false}`, code: shared.CodeHelloRequired, fatal: true},
		{name: "second hello for another user", then: []string{`{"user_id": 2, "friends": []}`}, code: shared.CodeUserMismatch, fatal: true},
		{name: "junk after hello", then: []string{`{"friends": [2,`}, code: shared.CodeBadJSON},
		{name: "bad friends after hello", then: []string{`{"friends": [-2]}`}, code: shared.CodeBadFriends},
		{name: "too many friends after hello", then: []string{`{"friends": [2, 3, 4, 5, 6]}`}, code: shared.CodeTooManyFriends},
		{name: "flood", then: repeat(`{}`, 60), code: shared.CodeRateLimited, fatal: true},
	}
}

// badClient is what a bad-input case needs of a client, on any transport.
type badClient interface {
	Send(line string)
	AwaitReady() []int64
	ExpectError(code string) alotest.Msg
	ExpectClosed()
}

// runBadCase plays one case: dial, misbehave, check the error and the close,
// and that nobody heard anything but what the case implies.
func runBadCase(t *testing.T, a alotest.Addrs, watcher *alotest.Client, dial func(*testing.T) badClient, send func(badClient, string), tc messageCase) {
	t.Helper()
	c := dial(t)
	if tc.then == nil {
		send(c, tc.hello)
	} else {
		c.Send(alotest.Hello(1))
		c.AwaitReady()
		watcher.ExpectState(1, true)
		c.Send(strings.Join(tc.then, "\n")) // one message per line
	}
	c.ExpectError(tc.code)
	if tc.fatal {
		c.ExpectClosed()
		if tc.then != nil {
			watcher.ExpectState(1, false)
		}
	} else {
		// The session goes on, unchanged.
		c.Send(`{"online": false}`)
		c.ExpectClosed()
		watcher.ExpectState(1, false)
	}
	barrierVia(t, a.TCP, watcher)
}

// barrierVia connects the barrier user, whose arrival and departure must be
// the next things the watcher hears.
func barrierVia(t *testing.T, addr string, watcher *alotest.Client) {
	t.Helper()
	b, _ := alotest.Connect(t, addr, barrier)
	watcher.ExpectState(barrier, true)
	b.Close()
	watcher.ExpectState(barrier, false)
}

func transportSystem(t *testing.T, cfg gateway.Config, wsCfg gateway.WSConfig, udpCfg gateway.UDPConfig) alotest.Addrs {
	t.Helper()
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, a, _ := alotest.GatewayAll(t, ns, cfg, wsCfg, udpCfg)
	return a
}

func TestWSBadInput(t *testing.T) {
	a := transportSystem(t, testConfig, gateway.WSConfig{}, gateway.UDPConfig{})
	long := `{"user_id": 1, "x": "` + strings.Repeat("a", 300) + `"}`
	dial := func(t *testing.T) badClient { return alotest.DialWS(t, a.WS) }
	text := func(c badClient, m string) { c.(*alotest.WSClient).SendFrame(ws.OpText, []byte(m)) }
	for _, tc := range messageCases() {
		t.Run(tc.name, func(t *testing.T) {
			watcher, _ := alotest.Connect(t, a.TCP, bystander, 1, 2, 3, barrier)
			runBadCase(t, a, watcher, dial, text, tc)
		})
	}

	frames := []struct {
		name      string
		hello     bool // send a valid hello first
		send      func(c *alotest.WSClient)
		code      string // "" for no JSON error
		fatal     bool
		closeCode ws.StatusCode
	}{
		{name: "frame over limit", send: func(c *alotest.WSClient) { c.SendFrame(ws.OpText, []byte(long)) },
			code: shared.CodeTooLong, fatal: true, closeCode: ws.StatusMessageTooBig},
		{name: "frame over limit after hello", hello: true, send: func(c *alotest.WSClient) { c.SendFrame(ws.OpText, []byte(long)) },
			code: shared.CodeTooLong, fatal: true, closeCode: ws.StatusMessageTooBig},
		{name: "fragments over limit", hello: true, send: func(c *alotest.WSClient) { c.SendFragments(long[:200], long[200:]) },
			code: shared.CodeTooLong, fatal: true, closeCode: ws.StatusMessageTooBig},
		{name: "binary frame", send: func(c *alotest.WSClient) { c.SendFrame(ws.OpBinary, []byte(alotest.Hello(1))) },
			code: shared.CodeBadFrame, fatal: true, closeCode: ws.StatusUnsupportedData},
		{name: "binary frame after hello", hello: true, send: func(c *alotest.WSClient) { c.SendFrame(ws.OpBinary, []byte(`{}`)) },
			code: shared.CodeBadFrame},
		{name: "invalid utf-8", send: func(c *alotest.WSClient) { c.SendFrame(ws.OpText, []byte("{\"user_id\": 1, \"name\": \"\xff\xfe\"}")) },
			code: shared.CodeInvalidUTF8, fatal: true, closeCode: ws.StatusInvalidFramePayloadData},
		{name: "invalid utf-8 after hello", hello: true, send: func(c *alotest.WSClient) { c.SendFrame(ws.OpText, []byte("{\"x\": \"\xff\"}")) },
			code: shared.CodeInvalidUTF8, fatal: true, closeCode: ws.StatusInvalidFramePayloadData},
		{name: "no hello in time", send: func(c *alotest.WSClient) {},
			code: shared.CodeHelloTimeout, fatal: true, closeCode: ws.StatusPolicyViolation},
		{name: "continuation without start", hello: true, send: func(c *alotest.WSClient) { c.SendFrame(ws.OpContinuation, []byte(`{}`)) },
			fatal: true, closeCode: ws.StatusProtocolError},
		{name: "reserved opcode", send: func(c *alotest.WSClient) { c.SendFrame(ws.OpCode(3), []byte(`{}`)) },
			fatal: true, closeCode: ws.StatusProtocolError},
		{name: "fatal message error", hello: true, send: func(c *alotest.WSClient) { c.Send(`{"user_id": 2}`) },
			code: shared.CodeUserMismatch, fatal: true, closeCode: ws.StatusPolicyViolation},
		{name: "ping flood", hello: true, send: func(c *alotest.WSClient) { c.SendFrames(ws.OpPing, nil, 60) },
			code: shared.CodeRateLimited, fatal: true, closeCode: ws.StatusPolicyViolation},
		{name: "logout", hello: true, send: func(c *alotest.WSClient) { c.Send(`{"online": false}`) },
			fatal: true, closeCode: ws.StatusNormalClosure},
	}
	for _, tc := range frames {
		t.Run(tc.name, func(t *testing.T) {
			watcher, _ := alotest.Connect(t, a.TCP, bystander, 1, barrier)
			c := alotest.DialWS(t, a.WS)
			if tc.hello {
				c.Send(alotest.Hello(1))
				c.AwaitReady()
				watcher.ExpectState(1, true)
			}
			tc.send(c)
			if tc.code != "" {
				c.ExpectError(tc.code)
			}
			if tc.fatal {
				c.ExpectClosed()
				if got := c.CloseCode(); got != tc.closeCode {
					t.Errorf("close code %d, want %d", got, tc.closeCode)
				}
			} else {
				c.Send(`{"online": false}`)
				c.ExpectClosed()
			}
			if tc.hello {
				watcher.ExpectState(1, false)
			}
			barrierVia(t, a.TCP, watcher)
		})
	}
}

// Binary frames count against the rate limit: a flood of them is answered
// bad_frame until it is rate_limited.
func TestWSBinaryFlood(t *testing.T) {
	a := transportSystem(t, testConfig, gateway.WSConfig{}, gateway.UDPConfig{})
	c, _ := alotest.ConnectWS(t, a.WS, 1)
	c.SendFrames(ws.OpBinary, []byte(`{}`), 60)
	for i := 0; ; i++ {
		m := c.Next()
		if m.Error == shared.CodeRateLimited {
			break
		}
		if m.Error != shared.CodeBadFrame || i > testConfig.RateBurst {
			t.Fatalf("message %d: %s", i, m)
		}
	}
	c.ExpectClosed()
	if got := c.CloseCode(); got != ws.StatusPolicyViolation {
		t.Fatalf("close code %d, want %d", got, ws.StatusPolicyViolation)
	}
}

func TestUDPBadInput(t *testing.T) {
	// Sources trusted (no cookie): errors are sent whole, so that each
	// case's code is seen. TestUDPRepliesNoLarger covers the cookie's
	// rule that a reply is never larger than its datagram.
	cfg := testConfig
	cfg.UDPGate.NoCookie = true
	a := transportSystem(t, cfg, gateway.WSConfig{}, gateway.UDPConfig{})
	// No keep-alives here: the session must end by what the case sends.
	dial := func(t *testing.T) badClient { return alotest.DialUDP(t, a.UDP) }
	datagram := func(c badClient, m string) { c.(*alotest.UDPClient).SendDatagram([]byte(m)) }
	for _, tc := range messageCases() {
		t.Run(tc.name, func(t *testing.T) {
			watcher, _ := alotest.Connect(t, a.TCP, bystander, 1, 2, 3, barrier)
			runBadCase(t, a, watcher, dial, datagram, tc)
		})
	}

	long := []byte(`{"user_id": 1, "x": "` + strings.Repeat("a", 300) + `"}`)
	datagrams := []struct {
		name  string
		hello bool
		send  []byte
		code  string
		fatal bool
	}{
		{name: "datagram over limit", send: long, code: shared.CodeTooLong, fatal: true},
		{name: "datagram over limit after hello", hello: true, send: long, code: shared.CodeTooLong, fatal: true},
		{name: "empty datagram", send: []byte{}, code: shared.CodeHelloRequired, fatal: true},
		{name: "two messages in one datagram", hello: true, send: []byte("{}\n{}"), code: shared.CodeBadJSON},
		{name: "invalid utf-8", send: []byte("{\"user_id\": 1, \"name\": \"\xff\xfe\"}"), code: shared.CodeInvalidUTF8, fatal: true},
	}
	for _, tc := range datagrams {
		t.Run(tc.name, func(t *testing.T) {
			watcher, _ := alotest.Connect(t, a.TCP, bystander, 1, barrier)
			c := alotest.DialUDP(t, a.UDP)
			if tc.hello {
				c.Send(alotest.Hello(1))
				c.AwaitReady()
				watcher.ExpectState(1, true)
			}
			c.SendDatagram(tc.send)
			c.ExpectError(tc.code)
			if !tc.fatal {
				c.Send(`{"online": false}`)
			}
			c.ExpectClosed()
			if tc.hello {
				watcher.ExpectState(1, false)
			}
			barrierVia(t, a.TCP, watcher)
		})
	}
}

// An empty datagram and an empty object keep a UDP session alive and do
// nothing else; silence ends it and tells the watchers, and the client
// hears why.
func TestUDPIdleExpiry(t *testing.T) {
	a := transportSystem(t, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{IdleTimeout: 300 * time.Millisecond})
	watcher, _ := alotest.Connect(t, a.TCP, bystander, 1, barrier)
	c := alotest.DialUDP(t, a.UDP)
	c.Send(alotest.Hello(1))
	c.AwaitReady()
	watcher.ExpectState(1, true)
	c.SendDatagram(nil)
	c.SendDatagram([]byte(`{}`))
	barrierVia(t, a.TCP, watcher)

	// Now silence: the session expires.
	c.ExpectError(shared.CodeIdleTimeout)
	watcher.ExpectState(1, false)
	c.ExpectClosed()

	// A new hello from the same address starts a new session.
	c.Send(alotest.Hello(1))
	c.AwaitReady()
	watcher.ExpectState(1, true)
	c.Send(`{"online": false}`)
	c.ExpectClosed()
	watcher.ExpectState(1, false)
}

// Keep-alives hold a UDP session open across many idle timeouts.
func TestUDPKeepAlive(t *testing.T) {
	idle := 500 * time.Millisecond
	a := transportSystem(t, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{IdleTimeout: idle})
	watcher, _ := alotest.Connect(t, a.TCP, bystander, 1, barrier)
	c, _ := alotest.ConnectUDP(t, a.UDP, 1, bystander)
	watcher.ExpectState(1, true)
	time.Sleep(4 * idle) // not a measurement: time for the session to expire if it were going to
	barrierVia(t, a.TCP, watcher)
	if m := c.Pending(); len(m) > 0 {
		t.Fatalf("the client heard %v", m)
	}
	c.Close()
	watcher.ExpectState(1, false)
}

// A gateway that stops ends its sessions on every transport, and tells each
// client why before closing (DESIGN §3: "its clients get a close reason
// (WebSocket 1001)"): watchers elsewhere hear offline, every client gets
// {"error":"shutdown"}, and a WebSocket client the close code 1001.
func TestTransportsShutdown(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, other, _ := alotest.Gateway(t, ns, gateway.Config{})
	_, a, stop := alotest.GatewayAll(t, ns, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{})
	watcher, _ := alotest.Connect(t, other, bystander, 1, 2, 3)
	u, _ := alotest.ConnectUDP(t, a.UDP, 1)
	w, _ := alotest.ConnectWS(t, a.WS, 2)
	c, _ := alotest.Connect(t, a.TCP, 3)
	watcher.ExpectState(1, true)
	watcher.ExpectState(2, true)
	watcher.ExpectState(3, true)
	stop()
	got := map[int64]bool{}
	for range 3 {
		m := watcher.Next()
		if !m.IsState() || *m.Online {
			t.Fatalf("got %s, want an offline", m)
		}
		got[*m.UserID] = true
	}
	if !got[1] || !got[2] || !got[3] {
		t.Fatalf("offline for %v, want 1, 2 and 3", got)
	}
	u.ExpectError(shared.CodeShutdown)
	c.ExpectError(shared.CodeShutdown)
	c.ExpectClosed()
	w.ExpectError(shared.CodeShutdown)
	w.ExpectClosed()
	if code := w.CloseCode(); code != ws.StatusGoingAway {
		t.Fatalf("websocket close code %d, want %d (going away)", code, ws.StatusGoingAway)
	}
}

// The gateway pings; a client that answers stays, one that stays silent is
// disconnected. The client's own pings are answered, before and after the
// hello, and a hello may come in fragments with a ping between them.
// The ping interval is short for a test but not so short that a loaded
// machine delays the answering client past twice of it: 250 ms.
func TestWSKeepAlive(t *testing.T) {
	a := transportSystem(t, gateway.Config{}, gateway.WSConfig{Ping: 250 * time.Millisecond}, gateway.UDPConfig{})
	watcher, _ := alotest.Connect(t, a.TCP, bystander, 1, 2, barrier)

	c := alotest.DialWS(t, a.WS)
	c.SendFrame(ws.OpPing, []byte("before"))
	alotest.WaitFor(t, alotest.Timeout, "a pong before the hello", func() bool { return len(c.Pongs()) == 1 })
	c.SendFragments(`{"user_id": 1,`, ` "friends": [`, `3]}`)
	c.AwaitReady()
	watcher.ExpectState(1, true)
	c.SendFrame(ws.OpPing, []byte("after"))
	alotest.WaitFor(t, alotest.Timeout, "pongs", func() bool { return len(c.Pongs()) == 3 })
	if p := c.Pongs(); p[0] != "before" || p[1] != "between" || p[2] != "after" {
		t.Fatalf("pongs %q", p)
	}
	alotest.WaitFor(t, alotest.Timeout, "pings from the gateway", func() bool { return c.Pings() >= 5 })
	barrierVia(t, a.TCP, watcher) // still online

	silent := alotest.DialWS(t, a.WS)
	silent.SetAnswerPings(false)
	silent.Send(alotest.Hello(2))
	silent.AwaitReady()
	watcher.ExpectState(2, true)
	watcher.ExpectState(2, false) // disconnected for not answering
	silent.ExpectClosed()
	if len(c.Pending()) != 0 {
		t.Fatal("the answering client heard something")
	}
}

// A close frame from the client ends the session; the gateway answers it.
func TestWSClientClose(t *testing.T) {
	a := transportSystem(t, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{})
	watcher, _ := alotest.Connect(t, a.TCP, bystander, 1)
	c, _ := alotest.ConnectWS(t, a.WS, 1)
	watcher.ExpectState(1, true)
	c.SendFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusGoingAway, "bye"))
	c.ExpectClosed()
	watcher.ExpectState(1, false)
	if code := c.CloseCode(); code != ws.StatusNormalClosure {
		t.Fatalf("close code %d, want %d", code, ws.StatusNormalClosure)
	}
}

// Browsers send an Origin: a page on loopback at the gateway's own port,
// the public URLs and the configured patterns are allowed, nothing else;
// clients that send none are allowed.
func TestWSOrigin(t *testing.T) {
	a := transportSystem(t, gateway.Config{}, gateway.WSConfig{
		PublicURLs: []string{"https://alo.example.net"},
		Origins:    []string{"*.example.com", "https://app.test"},
	}, gateway.UDPConfig{})
	_, port, _ := net.SplitHostPort(a.HTTP)
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + a.HTTP, true},
		{"http://localhost:" + port, true},
		{"http://[::1]:" + port, true},
		{"http://localhost:1", false},
		{"http://localhost", false},
		{"https://alo.example.net", true},
		{"https://alo.example.net:443", true},
		{"http://alo.example.net", false},
		{"https://alo.example.net:8443", false},
		{"http://evil.test", false},
		{"https://chat.example.com", true},
		{"https://example.com", false},
		{"https://app.test", true},
		{"http://app.test", false},
		{"null", false},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, err := alotest.DialWSHeader(a.WS, h)
		var se ws.StatusError
		switch {
		case tc.ok && err != nil:
			t.Errorf("origin %q: %v", tc.origin, err)
		case !tc.ok && !(errors.As(err, &se) && int(se) == http.StatusForbidden):
			t.Errorf("origin %q: got %v, want 403", tc.origin, err)
		}
		if c != nil {
			c.Close()
		}
	}
}

// DNS rebinding: an attacker's page, its name now resolving to the
// gateway, sends Host and Origin both naming the attacker's domain. The
// request's Host proves nothing, so it is refused.
func TestWSOriginRebinding(t *testing.T) {
	a := transportSystem(t, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{})
	for _, tc := range []struct {
		host, origin string
		want         int
	}{
		{"evil.example", "http://evil.example", http.StatusForbidden},
		{"evil.example:80", "http://evil.example", http.StatusForbidden},
		{a.HTTP, "http://" + a.HTTP, http.StatusSwitchingProtocols},
	} {
		c, err := net.Dial("tcp", a.HTTP)
		if err != nil {
			t.Fatal(err)
		}
		req := "GET /ws HTTP/1.1\r\nHost: " + tc.host + "\r\nOrigin: " + tc.origin +
			"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(alotest.Timeout))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("host %s: %v", tc.host, err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Host %s, Origin %s: %s, want %d", tc.host, tc.origin, resp.Status, tc.want)
		}
	}
}

// The gateway serves the demo page at /, and answers a plain GET on /ws.
func TestPageServed(t *testing.T) {
	a := transportSystem(t, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{})
	resp, err := http.Get("http://" + a.HTTP + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get("http://" + a.HTTP + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("GET /ws without upgrade: %s", resp.Status)
	}
}
