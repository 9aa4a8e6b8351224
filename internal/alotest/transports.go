package alotest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/shared"
)

// Addrs are where a gateway started by GatewayAll serves clients.
type Addrs struct {
	TCP  string // host:port, JSON Lines
	HTTP string // host:port: the page at /, health
	WS   string // ws://host:port/ws
	UDP  string // host:port, datagrams
}

// GatewayAll runs a gateway like Gateway, serving TCP, HTTP (the page and
// the WebSocket) and UDP, each on a random loopback port.
func GatewayAll(t testing.TB, ns *server.Server, cfg gateway.Config, wsCfg gateway.WSConfig, udpCfg gateway.UDPConfig) (*gateway.Server, Addrs, func()) {
	t.Helper()
	return GatewayTLS(t, ns, cfg, wsCfg, udpCfg, nil)
}

// GatewayTLS is GatewayAll with TLS on the TCP port and the HTTP port
// (then Addrs.WS is a wss:// URL) when tlsCfg is set.
func GatewayTLS(t testing.TB, ns *server.Server, cfg gateway.Config, wsCfg gateway.WSConfig, udpCfg gateway.UDPConfig, tlsCfg *tls.Config) (*gateway.Server, Addrs, func()) {
	t.Helper()
	srv, err := gateway.New(Conn(t, ns), cli.Discard(), LoopbackLimits(cfg))
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	mux, err := cli.GatewayMux(srv, wsCfg, cli.Health{Stats: func() any { return srv.Stats() }})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: cfg.HelloTimeout, ErrorLog: log.New(io.Discard, "", 0)}
	if hs.ReadHeaderTimeout == 0 {
		hs.ReadHeaderTimeout = gateway.DefaultHelloTimeout
	}
	addr := hln.Addr().String()
	hln = srv.LimitListener(hln) // as the binaries serve it: inside TLS
	if tlsCfg != nil {
		hln = tls.NewListener(hln, tlsCfg)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		hs.Serve(hln)
	}()
	stopGateway := run(t, func(ctx context.Context) error {
		return srv.Serve(ctx, gateway.Listeners{TCP: ln, TLS: tlsCfg, UDP: pc, UDPConfig: udpCfg})
	})
	stop := func() {
		stopGateway() // closes the WebSocket connections too
		hs.Close()
		<-served
	}
	t.Cleanup(stop)
	a := Addrs{TCP: ln.Addr().String(), HTTP: addr, UDP: pc.LocalAddr().String()}
	a.WS = "ws://" + a.HTTP + "/ws"
	if tlsCfg != nil {
		a.WS = "wss://" + a.HTTP + "/ws"
	}
	return srv, a, stop
}

// clientQueue is how many messages a Client holds before its reader waits
// for the test to take some: enough for any burst a test leaves unread (a
// UDP client's waiting reader loses datagrams), small enough for tests with
// thousands of clients.
const clientQueue = 1024

// newClient starts a Client on a connection that frames lines itself.
func newClient(t testing.TB, c net.Conn) *Client {
	cl := &Client{t: t, Conn: c, msgs: make(chan Msg, clientQueue), closed: make(chan struct{})}
	t.Cleanup(func() { c.Close() })
	go cl.read()
	return cl
}

// WSClient is a Client over WebSocket: each line sent is one text frame,
// each text frame received one message. SendFrame sends anything else.
type WSClient struct {
	*Client
	ws *wsLines
}

// DialWS opens a WebSocket to url without sending anything.
func DialWS(t testing.TB, url string) *WSClient {
	t.Helper()
	c, err := DialWSHeader(url, nil)
	if err != nil {
		t.Fatalf("websocket %s: %v", url, err)
	}
	return &WSClient{Client: newClient(t, c), ws: c}
}

// DialWSHeader opens a WebSocket with extra request headers (an Origin,
// say). A refused handshake is an error wrapping ws.StatusError.
func DialWSHeader(url string, h http.Header) (*wsLines, error) {
	return DialWSTLS(url, h, nil)
}

// DialWSTLS is DialWSHeader with a TLS client configuration, for wss://.
func DialWSTLS(url string, h http.Header, tlsCfg *tls.Config) (*wsLines, error) {
	d := ws.Dialer{Timeout: Timeout, TLSConfig: tlsCfg}
	if h != nil {
		d.Header = ws.HandshakeHeaderHTTP(h)
	}
	nc, br, _, err := d.Dial(context.Background(), url)
	if err != nil {
		return nil, err
	}
	c := &wsLines{Conn: nc}
	var src io.Reader = nc
	if br != nil {
		src = io.MultiReader(br, nc)
	}
	c.rd = wsutil.Reader{Source: src, State: ws.StateClientSide, CheckUTF8: true, OnIntermediate: c.control}
	return c, nil
}

// ConnectWSS is ConnectWS over TLS (a wss:// URL).
func ConnectWSS(t testing.TB, url string, tlsCfg *tls.Config, user int64, friends ...int64) (*WSClient, []int64) {
	t.Helper()
	nc, err := DialWSTLS(url, nil, tlsCfg)
	if err != nil {
		t.Fatalf("websocket %s: %v", url, err)
	}
	c := &WSClient{Client: newClient(t, nc), ws: nc}
	c.User = user
	c.Send(Hello(user, friends...))
	return c, c.AwaitReady()
}

// ConnectWS is Connect over WebSocket.
func ConnectWS(t testing.TB, url string, user int64, friends ...int64) (*WSClient, []int64) {
	t.Helper()
	c := DialWS(t, url)
	c.User = user
	c.Send(Hello(user, friends...))
	return c, c.AwaitReady()
}

// SendFrame sends one final frame with the given opcode, masked as a client
// must.
func (c *WSClient) SendFrame(op ws.OpCode, payload []byte) {
	c.t.Helper()
	if err := c.ws.writeFrame(ws.Header{Fin: true, OpCode: op}, payload); err != nil {
		c.t.Fatalf("send frame: %v", err)
	}
}

// SendFrames sends n copies of one frame in one write.
func (c *WSClient) SendFrames(op ws.OpCode, payload []byte, n int) {
	c.t.Helper()
	var b []byte
	for range n {
		b = appendMasked(b, ws.Header{Fin: true, OpCode: op}, payload)
	}
	if err := c.ws.write(b); err != nil {
		c.t.Fatalf("send frames: %v", err)
	}
}

// SendFragments sends one text message split into frames of the given
// payloads, with a ping between the first two.
func (c *WSClient) SendFragments(parts ...string) {
	c.t.Helper()
	for i, p := range parts {
		op := ws.OpContinuation
		if i == 0 {
			op = ws.OpText
		}
		if err := c.ws.writeFrame(ws.Header{Fin: i == len(parts)-1, OpCode: op}, []byte(p)); err != nil {
			c.t.Fatalf("send fragment: %v", err)
		}
		if i == 0 {
			if err := c.ws.writeFrame(ws.Header{Fin: true, OpCode: ws.OpPing}, []byte("between")); err != nil {
				c.t.Fatalf("send ping: %v", err)
			}
		}
	}
}

// CloseCode returns the code of the server's close frame, once the
// connection has closed (0 if there was none).
func (c *WSClient) CloseCode() ws.StatusCode {
	c.ws.mu.Lock()
	defer c.ws.mu.Unlock()
	return c.ws.closeCode
}

// Pongs returns the payloads of the pongs received so far.
func (c *WSClient) Pongs() []string {
	c.ws.mu.Lock()
	defer c.ws.mu.Unlock()
	return append([]string(nil), c.ws.pongs...)
}

// Pings returns how many pings the server has sent.
func (c *WSClient) Pings() int {
	c.ws.mu.Lock()
	defer c.ws.mu.Unlock()
	return c.ws.pings
}

// wsLines makes a client WebSocket look like a stream of lines, for Client:
// a Write sends each line as a text frame, Read returns each text frame
// followed by a line break. It answers pings.
type wsLines struct {
	net.Conn
	rd      wsutil.Reader
	pending []byte

	wmu sync.Mutex

	mu        sync.Mutex
	closeCode ws.StatusCode
	pongs     []string
	pings     int
	noPong    bool
}

func (c *wsLines) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		h, err := c.rd.NextFrame()
		if err != nil {
			return 0, err
		}
		if h.OpCode.IsControl() {
			if err := c.control(h, &c.rd); err != nil {
				return 0, err
			}
			if err := c.rd.Discard(); err != nil {
				return 0, err
			}
			continue
		}
		b, err := io.ReadAll(&c.rd)
		if err != nil {
			return 0, err
		}
		if h.OpCode != ws.OpText {
			b = append([]byte("binary frame from the server: "), b...)
		}
		c.pending = append(b, '\n')
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *wsLines) control(h ws.Header, r io.Reader) error {
	p, err := io.ReadAll(io.LimitReader(r, h.Length))
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch h.OpCode {
	case ws.OpPing:
		c.pings++
		if !c.noPong {
			return c.writeFrame(ws.Header{Fin: true, OpCode: ws.OpPong}, p)
		}
	case ws.OpPong:
		c.pongs = append(c.pongs, string(p))
	case ws.OpClose:
		c.closeCode, _ = ws.ParseCloseFrameData(p)
		_ = c.writeFrame(ws.Header{Fin: true, OpCode: ws.OpClose}, p[:min(len(p), 2)])
		return io.EOF
	}
	return nil
}

// Write sends each line of p as a text frame, all in one write.
func (c *wsLines) Write(p []byte) (int, error) {
	lines := bytes.Split(p, []byte("\n"))
	if len(lines) > 1 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	var b []byte
	for _, l := range lines {
		b = appendMasked(b, ws.Header{Fin: true, OpCode: ws.OpText}, l)
	}
	if err := c.write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsLines) writeFrame(h ws.Header, payload []byte) error {
	return c.write(appendMasked(nil, h, payload))
}

func (c *wsLines) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(Timeout))
	_, err := c.Conn.Write(b)
	return err
}

// appendMasked appends a frame masked as a client must.
func appendMasked(b []byte, h ws.Header, payload []byte) []byte {
	h.Masked, h.Mask, h.Length = true, ws.NewMask(), int64(len(payload))
	buf := bytes.NewBuffer(b)
	_ = ws.WriteHeader(buf, h)
	n := buf.Len()
	buf.Write(payload)
	b = buf.Bytes()
	ws.Cipher(b[n:], h.Mask, 0)
	return b
}

// SendPartialFrame sends the start of a text frame that declares length
// bytes of payload but carries only payload: a message started and not
// finished.
func (c *WSClient) SendPartialFrame(payload []byte, length int64) {
	c.t.Helper()
	h := ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: ws.NewMask(), Length: length}
	var buf bytes.Buffer
	_ = ws.WriteHeader(&buf, h)
	b := append(buf.Bytes(), payload...)
	ws.Cipher(b[buf.Len():], h.Mask, 0)
	if err := c.ws.write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// SetAnswerPings makes the client answer the server's pings, or not.
func (c *WSClient) SetAnswerPings(on bool) {
	c.ws.mu.Lock()
	c.ws.noPong = !on
	c.ws.mu.Unlock()
}

// UDPClient is a Client over UDP: each line sent is one datagram, each
// datagram received one message. Once connected it sends a keep-alive
// every UDPKeepAlive; Close stops it, so the session times out.
type UDPClient struct {
	*Client
	u *udpLines
}

// UDPKeepAlive is how often a connected UDPClient sends a keep-alive.
const UDPKeepAlive = 50 * time.Millisecond

// DialUDP opens a UDP socket to addr without sending anything.
func DialUDP(t testing.TB, addr string) *UDPClient {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		t.Fatalf("dial udp %s: %v", addr, err)
	}
	c := &udpLines{UDPConn: uc, stop: make(chan struct{})}
	t.Cleanup(c.stopKeepAlive)
	return &UDPClient{Client: newClient(t, c), u: c}
}

// ConnectUDP is Connect over UDP; the client then keeps its session alive.
func ConnectUDP(t testing.TB, addr string, user int64, friends ...int64) (*UDPClient, []int64) {
	t.Helper()
	c := DialUDP(t, addr)
	c.User = user
	c.Send(Hello(user, friends...))
	online := c.AwaitReady()
	c.KeepAlive()
	return c, online
}

// KeepAlive starts sending a keep-alive datagram every UDPKeepAlive.
func (c *UDPClient) KeepAlive() {
	c.u.once.Do(func() {
		c.u.wg.Go(func() {
			tick := time.NewTicker(UDPKeepAlive)
			defer tick.Stop()
			for {
				select {
				case <-c.u.stop:
					return
				case <-tick.C:
					_, _ = c.u.UDPConn.Write([]byte(`{}`))
				}
			}
		})
	})
}

// SendDatagram sends b as one datagram, as it is.
func (c *UDPClient) SendDatagram(b []byte) {
	c.t.Helper()
	if _, err := c.u.UDPConn.Write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// Close stops the keep-alives and closes the socket: the client falls
// silent, as one that went away does.
func (c *UDPClient) Close() {
	c.u.stopKeepAlive()
	c.Client.Close()
}

// ExpectClosed checks that the session has ended: the keep-alives stop, and
// a datagram from the same address is answered hello_required, with nothing
// before it.
func (c *UDPClient) ExpectClosed() {
	c.t.Helper()
	c.u.stopKeepAlive()
	c.SendDatagram(notHello)
	c.ExpectError("hello_required")
}

// notHello is a datagram that is no hello, long enough to be answered: a
// reply to an address without a session is never larger than what it
// answers.
var notHello = []byte(`{"not_a_hello": "` + strings.Repeat("-", 32) + `"}`)

// udpLines makes a connected UDP socket look like a stream of lines. It
// does the return-routability exchange itself, as a client library would:
// a cookie the gateway sends is not a message for the test, but the answer
// to the last hello sent, which it sends again with the cookie.
type udpLines struct {
	*net.UDPConn
	pending []byte
	buf     []byte

	mu        sync.Mutex
	lastHello []byte // the last datagram sent that has a user_id

	once     sync.Once
	wg       sync.WaitGroup
	stop     chan struct{}
	stopOnce sync.Once
}

func (c *udpLines) stopKeepAlive() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.wg.Wait()
}

func (c *udpLines) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.buf == nil {
			c.buf = make([]byte, 64<<10)
		}
		n, err := c.UDPConn.Read(c.buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return 0, io.EOF
			}
			return 0, err
		}
		if n == 0 {
			continue
		}
		if c.answerCookie(c.buf[:n]) {
			continue
		}
		c.pending = c.buf[:n]
		if c.pending[n-1] != '\n' {
			c.pending = append(c.pending, '\n')
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// Write sends each line of p as a datagram.
func (c *udpLines) Write(p []byte) (int, error) {
	lines := bytes.Split(p, []byte("\n"))
	if len(lines) > 1 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for _, l := range lines {
		if bytes.Contains(l, []byte(`"user_id"`)) {
			c.mu.Lock()
			c.lastHello = append(c.lastHello[:0], l...)
			c.mu.Unlock()
		}
		if _, err := c.UDPConn.Write(l); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// answerCookie reports whether d is the gateway's cookie reply, which it
// answers by sending the last hello again with the cookie.
func (c *udpLines) answerCookie(d []byte) bool {
	var r map[string]any
	if !bytes.HasPrefix(d, []byte(`{"`+shared.KeyCookie+`":`)) || json.Unmarshal(d, &r) != nil {
		return false
	}
	cookie, ok := r[shared.KeyCookie].(string)
	if !ok {
		return false
	}
	c.mu.Lock()
	hello := c.lastHello
	c.mu.Unlock()
	if len(hello) < 2 || hello[0] != '{' {
		return false
	}
	_, _ = c.UDPConn.Write(WithCookie(hello, cookie))
	return true
}

// WithCookie returns the JSON object msg with "cookie" added first.
func WithCookie(msg []byte, cookie string) []byte {
	head := `{"` + shared.KeyCookie + `":"` + cookie + `"`
	if rest := bytes.TrimSpace(msg[1:]); len(rest) > 0 && rest[0] != '}' {
		head += ","
	}
	return append([]byte(head), msg[1:]...)
}
