package alotest

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alo-presence/alo/shared"
)

// Msg is a server message as a client sees it: the contract's
// ServerMessage, and the line it came in.
type Msg struct {
	shared.ServerMessage
	Raw string
}

// IsState reports whether m is a presence state message.
func (m Msg) IsState() bool { return m.Kind() == shared.ServerState }

func (m Msg) String() string { return m.Raw }

// Client is a raw line-protocol client over TCP. A goroutine reads its
// messages into a channel; Next and the Expect methods take them in order.
type Client struct {
	User   int64 // set by Connect
	t      testing.TB
	Conn   net.Conn
	msgs   chan Msg
	closed chan struct{} // closed when the server closed the connection
}

// Dial connects to addr without sending anything.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return newClient(t, c)
}

// Connect dials addr, sends hello and waits for ready, collecting the
// snapshot. It returns the client and the snapshot's online friends, sorted.
func Connect(t testing.TB, addr string, user int64, friends ...int64) (*Client, []int64) {
	t.Helper()
	c := Dial(t, addr)
	c.User = user
	c.Send(Hello(user, friends...))
	return c, c.AwaitReady()
}

// Hello spells a hello message.
func Hello(user int64, friends ...int64) string {
	ids := make([]string, len(friends))
	for i, f := range friends {
		ids[i] = fmt.Sprint(f)
	}
	return fmt.Sprintf(`{"user_id": %d, "friends": [%s]}`, user, strings.Join(ids, ", "))
}

func (c *Client) read() {
	defer close(c.closed)
	r := bufio.NewReaderSize(c.Conn, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		m := Msg{Raw: strings.TrimSpace(line)}
		if err := shared.DecodeServer([]byte(line), &m.ServerMessage); err != nil {
			m.Error = "client: not JSON: " + line
		}
		c.msgs <- m
	}
}

// Send writes one line.
func (c *Client) Send(line string) {
	c.t.Helper()
	if _, err := c.Conn.Write([]byte(line + "\n")); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// Next returns the next message, failing the test if none comes in time.
func (c *Client) Next() Msg {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(Timeout):
		c.t.Fatalf("no message within %v", Timeout)
		return Msg{}
	}
}

// AwaitReady reads state messages up to ready and returns the friends they
// said are online, sorted.
func (c *Client) AwaitReady() []int64 {
	c.t.Helper()
	var online []int64
	for {
		m := c.Next()
		switch {
		case m.Ready:
			slices.Sort(online)
			return online
		case m.IsState() && *m.Online:
			online = append(online, *m.UserID)
		default:
			c.t.Fatalf("before ready: unexpected %s", m)
		}
	}
}

// ExpectState reads the next message and checks it says user is online or
// offline.
func (c *Client) ExpectState(user int64, online bool) {
	c.t.Helper()
	m := c.Next()
	if !m.IsState() || *m.UserID != user || *m.Online != online {
		c.t.Fatalf("got %s, want {\"user_id\":%d,\"online\":%v}", m, user, online)
	}
}

// ExpectError reads the next message and checks it is an error with code.
func (c *Client) ExpectError(code string) Msg {
	c.t.Helper()
	m := c.Next()
	if m.Error != code || m.Message == "" {
		c.t.Fatalf("got %s, want an error %q with a message", m, code)
	}
	return m
}

// ExpectClosed waits for the server to close the connection, failing on any
// message that comes first.
func (c *Client) ExpectClosed() {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		c.t.Fatalf("expected close, got %s", m)
	case <-c.closed:
		select {
		case m := <-c.msgs:
			c.t.Fatalf("expected close, got %s", m)
		default:
		}
	case <-time.After(Timeout):
		c.t.Fatalf("connection still open after %v", Timeout)
	}
}

// ExpectQuiet checks that no message arrives for d. Use it after a Sync, to
// show that nothing more was sent.
func (c *Client) ExpectQuiet(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		c.t.Fatalf("expected nothing, got %s", m)
	case <-time.After(d):
	}
}

// Pending returns the messages received so far without waiting.
func (c *Client) Pending() []Msg {
	var out []Msg
	for {
		select {
		case m := <-c.msgs:
			out = append(out, m)
		default:
			return out
		}
	}
}

// Close closes the connection from the client's side.
func (c *Client) Close() { c.Conn.Close() }

// CountingSession connects a session with hello, waits for its ready, and
// then only counts the lines it receives into n: for benchmarks, where
// decoding every message like Client does would measure the client.
func CountingSession(tb testing.TB, addr, hello string, n *atomic.Int64) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(hello + "\n")); err != nil {
		tb.Fatal(err)
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			tb.Fatalf("before ready: %v", err)
		}
		if strings.Contains(string(line), `"ready"`) {
			break
		}
	}
	go func() {
		for {
			if _, err := r.ReadSlice('\n'); err != nil {
				return
			}
			n.Add(1)
		}
	}()
}

// ExpectStateSkipping is ExpectState after a fault, where the system may
// repeat states it already sent (a repeat is harmless): it passes over the
// messages for which repeat returns true.
func (c *Client) ExpectStateSkipping(user int64, online bool, repeat func(Msg) bool) {
	c.t.Helper()
	for {
		m := c.Next()
		if repeat(m) {
			continue
		}
		if !m.IsState() || *m.UserID != user || *m.Online != online {
			c.t.Fatalf("got %s, want {\"user_id\":%d,\"online\":%v}", m, user, online)
		}
		return
	}
}

// DialFrom is Dial from the local address from (an IP: "127.0.0.2"), so a
// test can stand for clients at several addresses: the whole of 127/8 is
// loopback on Linux.
func DialFrom(t testing.TB, addr, from string) *Client {
	t.Helper()
	d := net.Dialer{Timeout: Timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	return newClient(t, c)
}

// ConnectFrom is Connect from the local address from.
func ConnectFrom(t testing.TB, addr, from string, user int64, friends ...int64) (*Client, []int64) {
	t.Helper()
	c := DialFrom(t, addr, from)
	c.User = user
	c.Send(Hello(user, friends...))
	return c, c.AwaitReady()
}

// NextOrClosed returns the next message, or false once the server has
// closed the connection and every message before the close was taken.
func (c *Client) NextOrClosed() (Msg, bool) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m, true
	case <-c.closed:
		select {
		case m := <-c.msgs:
			return m, true
		default:
			return Msg{}, false
		}
	case <-time.After(Timeout):
		c.t.Fatalf("neither a message nor a close within %v", Timeout)
		return Msg{}, false
	}
}
