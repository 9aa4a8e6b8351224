package gateway_test

import (
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// The limits at the edge (DESIGN §4, issue 10 item 4), each over real
// sockets: the refusal's code, and other clients unaffected. Loopback is all
// of 127/8, so 127.0.0.2, .3, ... stand for clients at different addresses.

// offline passes over offline states: presence may tell a session that a
// friend is offline (a correction after a list change); what matters is
// who is heard coming online.
func offline(m alotest.Msg) bool { return m.IsState() && !*m.Online }

// tryConnect connects from address from and reports whether the session
// opened, or the refusal's code.
func tryConnect(t *testing.T, addr, from string, user int64) (*alotest.Client, string) {
	t.Helper()
	c := alotest.DialFrom(t, addr, from)
	c.User = user
	c.Send(alotest.Hello(user))
	m := c.Next()
	if m.Error != "" {
		c.ExpectClosed()
		return nil, m.Error
	}
	if !m.Ready {
		t.Fatalf("got %s, want ready or an error", m)
	}
	return c, ""
}

// retryConnect connects until the session opens (a slot or a token came
// back), failing after the deadline.
func retryConnect(t *testing.T, addr, from string, user int64) *alotest.Client {
	t.Helper()
	var c *alotest.Client
	alotest.WaitFor(t, alotest.Timeout, "a connection from "+from+" admitted", func() bool {
		var code string
		c, code = tryConnect(t, addr, from, user)
		if code != "" && code != shared.CodeTooManyConnections {
			t.Fatalf("refused with %s", code)
		}
		return c != nil
	})
	return c
}

func TestConnsPerIP(t *testing.T) {
	a := transportSystem(t, gateway.Config{Admission: gateway.AdmissionConfig{MaxConnsPerIP: 3, ConnRatePerIP: -1}}, gateway.WSConfig{}, gateway.UDPConfig{})
	var held []*alotest.Client
	for i := range 3 {
		c, _ := alotest.ConnectFrom(t, a.TCP, "127.0.0.2", int64(10+i))
		held = append(held, c)
	}
	if _, code := tryConnect(t, a.TCP, "127.0.0.2", 13); code != shared.CodeTooManyConnections {
		t.Fatalf("4th connection from one address: %q, want %s", code, shared.CodeTooManyConnections)
	}
	// Another address is unaffected, and sees the first address's users.
	other, online := alotest.ConnectFrom(t, a.TCP, "127.0.0.3", 20, 10, 11, 12)
	if fmt.Sprint(online) != "[10 11 12]" {
		t.Fatalf("snapshot %v, want [10 11 12]", online)
	}
	// A closed connection gives its slot back.
	held[0].Close()
	other.ExpectState(10, false)
	retryConnect(t, a.TCP, "127.0.0.2", 10)
	other.ExpectState(10, true)
}

func TestConnRatePerIP(t *testing.T) {
	a := transportSystem(t, gateway.Config{Admission: gateway.AdmissionConfig{MaxConnsPerIP: -1, ConnRatePerIP: 2, ConnBurstPerIP: 3}}, gateway.WSConfig{}, gateway.UDPConfig{})
	for i := range 3 {
		c, code := tryConnect(t, a.TCP, "127.0.0.4", int64(30+i))
		if c == nil {
			t.Fatalf("connection %d of the burst refused: %s", i, code)
		}
		c.Close()
	}
	if _, code := tryConnect(t, a.TCP, "127.0.0.4", 33); code != shared.CodeTooManyConnections {
		t.Fatalf("connection past the burst: %q, want %s", code, shared.CodeTooManyConnections)
	}
	// Another address has its own bucket.
	if c, code := tryConnect(t, a.TCP, "127.0.0.5", 34); c == nil {
		t.Fatalf("another address refused: %s", code)
	}
	// The bucket refills.
	retryConnect(t, a.TCP, "127.0.0.4", 33)
}

// The total cap refuses new clients on every transport with
// too_many_connections, while /healthz, on the HTTP listener that counts
// per source only, still answers (issue 10: 1,011 idle sockets locked every
// login and /healthz out).
func TestTotalConnsCapHealthz(t *testing.T) {
	cfg := gateway.Config{HelloTimeout: time.Minute, Admission: gateway.AdmissionConfig{MaxConns: 16}}
	a := transportSystem(t, cfg, gateway.WSConfig{}, gateway.UDPConfig{})
	var held []*alotest.Client
	for i := range 16 {
		c, _ := alotest.Connect(t, a.TCP, int64(100+i))
		held = append(held, c)
	}
	if _, code := tryConnect(t, a.TCP, "127.0.0.6", 200); code != shared.CodeTooManyConnections {
		t.Fatalf("connection past the total: %q, want %s", code, shared.CodeTooManyConnections)
	}
	w := alotest.DialWS(t, a.WS)
	w.ExpectError(shared.CodeTooManyConnections)
	w.ExpectClosed()
	if got := w.CloseCode(); got != 1013 {
		t.Fatalf("websocket close code %d, want 1013 (try again later)", got)
	}
	for range 3 {
		resp, err := http.Get("http://" + a.HTTP + "/healthz")
		if err != nil {
			t.Fatalf("/healthz with the gateway full: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz with the gateway full: %s", resp.Status)
		}
	}
	held[0].Close()
	retryConnect(t, a.TCP, "127.0.0.6", 200)
}

func TestSessionsPerUser(t *testing.T) {
	a := transportSystem(t, gateway.Config{Users: gateway.UserLimitsConfig{MaxSessionsPerUser: 2}}, gateway.WSConfig{}, gateway.UDPConfig{})
	watcher, _ := alotest.Connect(t, a.TCP, bystander, 1, 2, barrier)
	alotest.Connect(t, a.TCP, 1)
	watcher.ExpectState(1, true)
	alotest.Connect(t, a.TCP, 1)
	third := alotest.Dial(t, a.TCP)
	third.Send(alotest.Hello(1))
	third.ExpectError(shared.CodeTooManySessions)
	third.ExpectClosed()
	// Another user is unaffected, and nobody heard user 1 go anywhere.
	alotest.Connect(t, a.TCP, 2)
	watcher.ExpectState(2, true)
	barrierVia(t, a.TCP, watcher)
}

// The union of one user's friend lists on this gateway is capped, at hello
// (fatal) and at an update (the list stays, the session goes on).
func TestFriendUnion(t *testing.T) {
	cfg := gateway.Config{MaxFriends: 4, MaxFriendUnion: 6}
	a := transportSystem(t, cfg, gateway.WSConfig{}, gateway.UDPConfig{})
	first, _ := alotest.Connect(t, a.TCP, 1, 2, 3, 4, 5)
	over := alotest.Dial(t, a.TCP)
	over.Send(alotest.Hello(1, 6, 7, 8, 9)) // union of 8
	over.ExpectError(shared.CodeFriendUnionTooLarge)
	over.ExpectClosed()
	second, _ := alotest.Connect(t, a.TCP, 1, 2, 3, 6) // union of 6: fits
	second.Send(`{"friends": [7, 8, 9]}`)              // would be 7
	second.ExpectError(shared.CodeFriendUnionTooLarge)
	// The list stayed [2 3 6]: 6 coming online is heard, 7 not.
	alotest.Connect(t, a.TCP, 7)
	alotest.Connect(t, a.TCP, 6)
	second.ExpectStateSkipping(6, true, offline)
	first.ExpectStateSkipping(6, true, offline) // the user's subject carries the union
	// Another user is unaffected.
	other, _ := alotest.Connect(t, a.TCP, 50, 6, 7, 8, 9)
	other.Send(`{"friends": [2, 3, 4, 5]}`)
	other.Send(`{"online": false}`)
	expectClosedNoError(t, other)
}

// expectClosedNoError reads until the server closes c, failing on an error
// message; states (corrections after a list change) may come first.
func expectClosedNoError(t *testing.T, c *alotest.Client) {
	t.Helper()
	for {
		m, ok := c.NextOrClosed()
		if !ok {
			return
		}
		if m.Error != "" {
			t.Fatalf("got %s", m)
		}
	}
}

func TestFriendUpdateRate(t *testing.T) {
	cfg := gateway.Config{Users: gateway.UserLimitsConfig{FriendUpdatesPerSec: 0.01, FriendUpdateBurst: 2}}
	a := transportSystem(t, cfg, gateway.WSConfig{}, gateway.UDPConfig{})
	c, _ := alotest.Connect(t, a.TCP, 1, 2) // the hello's list: 1 of 2
	c.Send(`{"friends": [3]}`)              // 2 of 2
	c.Send(`{"friends": [4]}`)              // over
	c.ExpectError(shared.CodeFriendsRateLimited)
	// The list stayed [3]: 3 is heard, 4 not.
	alotest.Connect(t, a.TCP, 4)
	alotest.Connect(t, a.TCP, 3)
	c.ExpectStateSkipping(3, true, offline)
	// Another user has their own budget.
	d, _ := alotest.Connect(t, a.TCP, 5, 2)
	d.Send(`{"friends": [3]}`)
	d.Send(`{"online": false}`)
	expectClosedNoError(t, d)
	// A new session of the rate-limited user is refused at hello.
	e := alotest.Dial(t, a.TCP)
	e.Send(alotest.Hello(1, 9))
	e.ExpectError(shared.CodeFriendsRateLimited)
	e.ExpectClosed()
}

// A client that starts a line and stops is closed after the message
// timeout, and its watchers told; an idle session is not.
func TestHalfSentLineClosed(t *testing.T) {
	a := transportSystem(t, gateway.Config{MessageTimeout: 300 * time.Millisecond}, gateway.WSConfig{}, gateway.UDPConfig{})
	watcher, _ := alotest.Connect(t, a.TCP, bystander, 1, 2, barrier)
	idle, _ := alotest.Connect(t, a.TCP, 2)
	watcher.ExpectState(2, true)
	c, _ := alotest.Connect(t, a.TCP, 1)
	watcher.ExpectState(1, true)
	if _, err := c.Conn.Write([]byte(`{"friends": [`)); err != nil {
		t.Fatal(err)
	}
	c.ExpectError(shared.CodeMessageTimeout)
	c.ExpectClosed()
	watcher.ExpectState(1, false)
	idle.ExpectQuiet(600 * time.Millisecond) // twice the timeout, and still open
	idle.Send(`{"friends": [1]}`)
	idle.Send(`{"online": false}`)
	expectClosedNoError(t, idle)
	watcher.ExpectState(2, false)
}

// A WebSocket message started and not finished is closed after the message
// timeout too.
func TestHalfSentWSMessageClosed(t *testing.T) {
	a := transportSystem(t, gateway.Config{MessageTimeout: 300 * time.Millisecond}, gateway.WSConfig{}, gateway.UDPConfig{})
	watcher, _ := alotest.Connect(t, a.TCP, bystander, 1)
	c, _ := alotest.ConnectWS(t, a.WS, 1)
	watcher.ExpectState(1, true)
	c.SendPartialFrame([]byte(`{"friends": [`), 1000)
	c.ExpectError(shared.CodeMessageTimeout)
	c.ExpectClosed()
	watcher.ExpectState(1, false)
}

// TestHalfSentLinesMemory is the attack: 1,000 connections each
// holding a 60 KB unfinished line. It reports the gateway's heap with them
// held, and after the message timeout.
//
//	go test -run TestHalfSentLinesMemory -v ./gateway/
func TestHalfSentLinesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections and 60 MB over loopback")
	}
	const conns, size = 1000, 60 << 10
	timeout := 3 * time.Second
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	srv, addr, _ := alotest.Gateway(t, ns, gateway.Config{MessageTimeout: timeout})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	base := heap()
	half := []byte(`{"x": "` + strings.Repeat("a", size))
	var cs []net.Conn
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write([]byte(alotest.Hello(int64(1000+i)) + "\n")); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	alotest.WaitFor(t, alotest.Timeout, "sessions open", func() bool { return srv.Stats().Sessions == conns })
	start := time.Now()
	for _, c := range cs {
		if _, err := c.Write(half); err != nil {
			t.Fatal(err)
		}
	}
	// Held: the gateway has read (nearly) all of it.
	var held uint64
	alotest.WaitFor(t, timeout, "the half lines read", func() bool {
		held = heap()
		return held-base > conns*size*9/10
	})
	t.Logf("heap: %d MiB before, %d MiB with %d half-sent %d KB lines held (%v after sending)",
		base>>20, held>>20, conns, size>>10, time.Since(start).Round(time.Millisecond))
	alotest.WaitFor(t, timeout+alotest.Timeout, "the half-sent connections closed", func() bool { return srv.Stats().Sessions == 0 })
	after := heap()
	t.Logf("heap: %d MiB once the message timeout (%v) closed them (%v after sending)", after>>20, timeout, time.Since(start).Round(time.Millisecond))
	if after-min(after, base) > conns*size/4 {
		t.Fatalf("heap %d MiB after the timeout, %d MiB before: the lines are still held", after>>20, base>>20)
	}
}

// The HTTP port counts connections per address too (LimitListener): an
// address at its cap gets its HTTP connection closed without a word, while
// another address is served.
func TestHTTPConnsPerIP(t *testing.T) {
	a := transportSystem(t, gateway.Config{Admission: gateway.AdmissionConfig{MaxConnsPerIP: 2, ConnRatePerIP: -1}}, gateway.WSConfig{}, gateway.UDPConfig{})
	get := func(from string) error {
		d := &net.Dialer{Timeout: alotest.Timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		hc := &http.Client{Timeout: alotest.Timeout, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
		resp, err := hc.Get("http://" + a.HTTP + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s", resp.Status)
		}
		return nil
	}
	if err := get("127.0.0.10"); err != nil {
		t.Fatalf("/healthz under the cap: %v", err)
	}
	alotest.ConnectFrom(t, a.TCP, "127.0.0.10", 1)
	alotest.ConnectFrom(t, a.TCP, "127.0.0.10", 2)
	if err := get("127.0.0.10"); err == nil {
		t.Fatal("an HTTP connection from an address at its cap was served")
	}
	if err := get("127.0.0.11"); err != nil {
		t.Fatalf("/healthz from another address: %v", err)
	}
}
