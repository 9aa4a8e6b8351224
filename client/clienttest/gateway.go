// Package clienttest provides a scripted fake ALO gateway that speaks the
// client protocol over real TCP sockets (JSON Lines), for testing clients
// without NATS or presence: the test accepts each connection, reads what
// the client sent, and writes what the server would.
package clienttest

import (
	"bufio"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"
)

// Timeout bounds every wait in this package, so a broken client fails its
// test instead of hanging it.
const Timeout = 5 * time.Second

// Gateway is a fake gateway listening on a loopback port.
type Gateway struct {
	ln    net.Listener
	conns chan *Conn
	done  chan struct{} // closed by Close, so no goroutine blocks on a full channel

	mu   sync.Mutex
	all  []*Conn
	wg   sync.WaitGroup
	once sync.Once
}

// NewGateway starts a fake gateway on 127.0.0.1 and closes it when the
// test ends.
func NewGateway(t testing.TB) *Gateway {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("clienttest: listen: %v", err)
	}
	g := &Gateway{ln: ln, conns: make(chan *Conn, 16), done: make(chan struct{})}
	g.wg.Go(g.acceptLoop)
	t.Cleanup(g.Close)
	return g
}

// Addr returns the gateway's "host:port".
func (g *Gateway) Addr() string { return g.ln.Addr().String() }

func (g *Gateway) acceptLoop() {
	for {
		nc, err := g.ln.Accept()
		if err != nil {
			return
		}
		c := &Conn{nc: nc, lines: make(chan string, 64), closed: make(chan struct{}), done: g.done}
		g.mu.Lock()
		g.all = append(g.all, c)
		g.mu.Unlock()
		g.wg.Go(c.readLoop)
		select {
		case g.conns <- c:
		case <-g.done:
			return
		}
	}
}

// Accept returns the next connection a client made, failing the test if
// none comes within Timeout.
func (g *Gateway) Accept(t testing.TB) *Conn {
	t.Helper()
	select {
	case c := <-g.conns:
		return c
	case <-time.After(Timeout):
		t.Fatalf("clienttest: no connection within %v", Timeout)
		return nil
	}
}

// Close stops listening and closes every connection. It is safe to call
// more than once, and returns after the gateway's goroutines have ended.
func (g *Gateway) Close() {
	g.once.Do(func() {
		close(g.done)
		g.ln.Close()
		g.mu.Lock()
		for _, c := range g.all {
			c.Close()
		}
		g.mu.Unlock()
		g.wg.Wait()
	})
}

// Conn is the server side of one client connection.
type Conn struct {
	nc     net.Conn
	lines  chan string   // what the client sent, one message per line
	closed chan struct{} // closed when the client's side ends
	done   <-chan struct{}
	wmu    sync.Mutex
}

func (c *Conn) readLoop() {
	defer close(c.closed)
	sc := bufio.NewScanner(c.nc)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			select {
			case c.lines <- line:
			case <-c.done:
				return
			}
		}
	}
}

// Next returns the next message the client sent, as a line, failing the
// test if none comes within Timeout.
func (c *Conn) Next(t testing.TB) string {
	t.Helper()
	select {
	case l := <-c.lines:
		return l
	case <-c.closed:
		// Drain what arrived before the close.
		select {
		case l := <-c.lines:
			return l
		default:
		}
		t.Fatalf("clienttest: connection closed while waiting for a message")
	case <-time.After(Timeout):
		t.Fatalf("clienttest: no message within %v", Timeout)
	}
	return ""
}

// Expect reads the next message and fails the test unless it is JSON equal
// to want (key order and spacing do not matter).
func (c *Conn) Expect(t testing.TB, want string) {
	t.Helper()
	got := c.Next(t)
	if !JSONEqual(got, want) {
		t.Fatalf("clienttest: client sent %s, want %s", got, want)
	}
}

// Send writes one server message (a line is appended).
func (c *Conn) Send(t testing.TB, msg string) {
	t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.nc.Write([]byte(msg + "\n")); err != nil {
		t.Fatalf("clienttest: send %s: %v", msg, err)
	}
}

// WaitClosed fails the test unless the client closes its side within
// Timeout.
func (c *Conn) WaitClosed(t testing.TB) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(Timeout):
		t.Fatalf("clienttest: client did not close within %v", Timeout)
	}
}

// Close closes the connection, as a gateway going away would.
func (c *Conn) Close() { c.nc.Close() }

// JSONEqual reports whether a and b are JSON documents with equal values.
func JSONEqual(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}
