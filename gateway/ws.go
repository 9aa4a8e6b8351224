package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/alo-presence/alo/shared"
)

// WebSocket: one client message per text frame, the same hello, limits and
// messages as TCP. The library is github.com/gobwas/ws, used at the frame
// level: the gateway reads frame headers straight from the socket and holds
// no buffer while a connection is idle, and writes every frame queued since
// the last write in one write. tools/wsmem measures it against
// coder/websocket and gorilla/websocket.

// WSConfig configures the WebSocket endpoint. The zero value is ready to
// use: each field's comment gives the default that a zero value stands for.
type WSConfig struct {
	// PublicURLs are the URLs the gateway's page is published at
	// ("https://alo.example.com"): a browser origin equal to one of them
	// (scheme, host and port) is allowed. The request's own Host header is
	// never trusted for this: with DNS rebinding an attacker's page sends
	// Host and Origin both naming the attacker's domain. A page loaded from
	// a loopback name or address (localhost, 127.0.0.1, [::1]) at the port
	// the request came in on is always allowed, so the quick start works
	// without flags. Default none.
	PublicURLs []string
	// Origins lists further browser origins allowed: patterns matched with
	// path.Match against the origin's host[:port] ("example.com",
	// "*.example.com", "localhost:*"), or against the whole origin when the
	// pattern has "://" ("https://*.example.com"). "*" allows any origin.
	// A request without an Origin header (not from a browser) is always
	// allowed: the check protects users' browsers from other sites, not the
	// gateway from clients. Default none.
	Origins []string
	// Ping is how often the gateway pings a client; a client that sends
	// nothing for twice as long, not even a pong, is disconnected.
	// Default 30s.
	Ping time.Duration
}

// DefaultWSPing is the default of WSConfig.Ping.
const DefaultWSPing = 30 * time.Second

func (c WSConfig) withDefaults() WSConfig {
	if c.Ping == 0 {
		c.Ping = DefaultWSPing
	}
	return c
}

func (c WSConfig) validate() error {
	if c.Ping < 0 {
		return errors.New("gateway: websocket ping interval must be positive")
	}
	for _, p := range c.Origins {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return fmt.Errorf("gateway: bad origin pattern %q", p)
		}
	}
	for _, u := range c.PublicURLs {
		if _, ok := originOf(u); !ok {
			return fmt.Errorf("gateway: public url %q is not an http or https URL with a host", u)
		}
	}
	return nil
}

// origin is a browser origin reduced to what identifies it, with the
// scheme's default port spelled out, so "https://a.example" and
// "https://a.example:443" are one.
type origin struct{ scheme, host, port string }

func originOf(s string) (origin, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return origin{}, false
	}
	o := origin{scheme: u.Scheme, host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.port == "" {
		o.port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return o, true
}

// loopbackNames are the hosts a page on the gateway's own machine is
// loaded from.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// WebSocket returns the handler of the WebSocket endpoint, for the binary to
// mount on its HTTP server (at /ws). The handler belongs to the server's
// lifecycle: a request that comes before Serve has started waits for it (as
// a TCP client waits in the listen backlog), up to HelloTimeout; once Serve
// is shutting down, requests are refused with 503. The connections it
// upgrades are Serve's, like TCP connections: its shutdown closes them and
// waits for them.
func (srv *Server) WebSocket(cfg WSConfig) (http.Handler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h := &wsHandler{srv: srv, cfg: cfg, up: ws.HTTPUpgrader{Timeout: time.Second}}
	for _, u := range cfg.PublicURLs {
		o, _ := originOf(u)
		h.public = append(h.public, o)
	}
	return h, nil
}

type wsHandler struct {
	srv    *Server
	cfg    WSConfig
	up     ws.HTTPUpgrader
	public []origin
}

func (h *wsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	srv := h.srv
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this is a WebSocket endpoint", http.StatusUpgradeRequired)
		return
	}
	if !h.originAllowed(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	// Sessions need Serve's subscriptions: wait for Serve, but not forever.
	wait := time.NewTimer(srv.cfg.HelloTimeout)
	defer wait.Stop()
	select {
	case <-srv.started:
	case <-r.Context().Done():
		return
	case <-wait.C:
		http.Error(w, "the gateway is not running", http.StatusServiceUnavailable)
		return
	}
	if !srv.serving() {
		http.Error(w, "the gateway is shutting down", http.StatusServiceUnavailable)
		return
	}
	// The HTTP listener counted the connection against its source
	// (LimitListener); a WebSocket also counts against the gateway's total,
	// as a TCP connection does. A refusal is said in the protocol's own
	// words, which a browser can read, then closed with 1013 (try again).
	lease, admitErr := srv.adm.AdmitTotal()
	c, rw, _, err := h.up.Upgrade(r, w)
	if err != nil {
		// The upgrader has answered with an HTTP error.
		if c != nil {
			c.Close()
		}
		lease.Release()
		return
	}
	if le := (*LimitError)(nil); errors.As(admitErr, &le) {
		srv.rlog.Info("ws_refused", "websocket refused", "remote", c.RemoteAddr().String(), "err", admitErr)
		refuseWS(c, wsRefusal(le))
		return
	}
	c = &leasedConn{Conn: c, lease: lease}
	// Bytes the client sent right after its request are in the HTTP
	// server's reader; otherwise it is dropped with everything else of the
	// HTTP connection, so an idle WebSocket holds no buffer.
	var pending *bufio.Reader
	if rw.Reader.Buffered() > 0 {
		pending = rw.Reader
	}
	if !srv.track(c) {
		// Serve began to shut down since the check above.
		refuseWS(c, unavailable(errClosing))
		return
	}
	srv.metrics.connsWS.Add(1)
	// The connection runs in its own goroutine so that this handler
	// returns, and net/http releases what it holds for the request.
	go func() {
		defer srv.wg.Done()
		wc, s := srv.wsHello(c, pending, h.cfg)
		if s == nil {
			srv.metrics.connsWS.Add(-1)
			srv.untrack(c)
			return
		}
		// The session waits in a fresh goroutine, whose stack has not
		// grown on the hello: an idle connection's stack is most of
		// what it costs.
		srv.wg.Go(func() {
			defer srv.metrics.connsWS.Add(-1)
			defer srv.untrack(c)
			defer c.Close()
			srv.readSession(s, wc.sessionReader(s))
		})
	}()
}

// originAllowed applies WSConfig.Origins.
func (h *wsHandler) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || slices.Contains(h.cfg.Origins, "*") {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if o, ok := originOf(origin); ok {
		if slices.Contains(h.public, o) {
			return true
		}
		// A loopback page on the port this connection came in on: what
		// the request arrived at, not what its Host header claims.
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && slices.Contains(loopbackNames, o.host) {
			if _, port, err := net.SplitHostPort(la.String()); err == nil && port == o.port {
				return true
			}
		}
	}
	host, full := strings.ToLower(u.Host), strings.ToLower(origin)
	for _, p := range h.cfg.Origins {
		p = strings.ToLower(p)
		subject := host
		if strings.Contains(p, "://") {
			subject = full
		}
		if ok, _ := path.Match(p, subject); ok {
			return true
		}
	}
	return false
}

// wsConn is the gateway's side of one WebSocket connection.
type wsConn struct {
	c   net.Conn
	rd  wsutil.Reader
	buf []byte // the message being read; nil between messages

	idle  time.Duration      // after the hello: read deadline renewed by each frame
	msgTO time.Duration      // after the hello: a started message must end within this
	allow func() *disconnect // after the hello: the session's rate limit

	mu      sync.Mutex
	pong    []byte // payload of a ping to answer; nil if none
	pingDue bool   // the ping timer fired: the writer sends a ping
	ping    *time.Timer
	onCtl   func() // wakes the writer once a session exists
}

// pending reports whether the writer owes the client a pong or a ping.
func (wc *wsConn) pending() bool {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc.pong != nil || wc.pingDue
}

// Errors of the WebSocket reader.
var (
	errWSClosed = errors.New("gateway: websocket closed by the client")
	errBinary   = errors.New("gateway: binary frame")
)

// bufReader reads what the HTTP server had buffered, then the connection.
type bufReader struct {
	br *bufio.Reader
	c  net.Conn
}

func (b *bufReader) Read(p []byte) (int, error) {
	if b.br != nil {
		if b.br.Buffered() > 0 {
			return b.br.Read(p)
		}
		b.br = nil
	}
	return b.c.Read(p)
}

func newWSConn(c net.Conn, pending *bufio.Reader, maxMessage int) *wsConn {
	wc := &wsConn{c: c}
	var src io.Reader = c
	if pending != nil {
		src = &bufReader{br: pending, c: c}
	}
	wc.rd = wsutil.Reader{
		Source:         src,
		State:          ws.StateServerSide,
		CheckUTF8:      true,
		MaxMessageSize: int64(maxMessage),
		OnIntermediate: func(h ws.Header, r io.Reader) error { return wc.control(h, r) },
	}
	return wc
}

// control handles a control frame from the client: a ping is answered, a
// close ends the connection.
func (wc *wsConn) control(h ws.Header, r io.Reader) error {
	var p [ws.MaxControlFramePayloadSize]byte
	n, err := io.ReadFull(r, p[:h.Length])
	if err != nil {
		return err
	}
	switch h.OpCode {
	case ws.OpPing:
		if wc.allow != nil {
			// Pings count against the rate limit, as TCP's blank lines do.
			if d := wc.allow(); d != nil {
				return d
			}
		}
		wc.mu.Lock()
		wc.pong = append(wc.pong[:0:0], p[:n]...)
		wake := wc.onCtl
		wc.mu.Unlock()
		if wake == nil {
			// No session, so no writer: answer here. Nothing else writes.
			return wc.flushControl()
		}
		wake()
	case ws.OpClose:
		code, reason := ws.ParseCloseFrameData(p[:n])
		if !code.Empty() {
			if err := ws.CheckCloseFrameData(code, reason); err != nil {
				return err
			}
		}
		return errWSClosed
	}
	return nil
}

// next returns the next text message, without copying it: it is valid until
// the next call. Control frames are handled on the way; a binary message is
// read and dropped, and reported as errBinary.
func (wc *wsConn) next() ([]byte, error) {
	for {
		h, err := wc.rd.NextFrame()
		if err != nil {
			return nil, err
		}
		if wc.idle > 0 {
			_ = wc.c.SetReadDeadline(time.Now().Add(wc.idle))
		}
		if h.OpCode.IsControl() {
			if err := wc.control(h, &wc.rd); err != nil {
				return nil, err
			}
			// The frame is read; let the reader forget it.
			if err := wc.rd.Discard(); err != nil {
				return nil, err
			}
			continue
		}
		// A started message must end within the message timeout, so
		// that a client cannot hold a MaxMessageBytes buffer by sending
		// most of it and stopping (the idle deadline is renewed by any
		// frame, continuations included).
		if wc.msgTO > 0 && wc.msgTO < wc.idle {
			_ = wc.c.SetReadDeadline(time.Now().Add(wc.msgTO))
		}
		// Grow the buffer as bytes arrive, not on the declared length.
		b := wc.buf[:0]
		if b == nil {
			if p, ok := msgBufs.Get().(*[]byte); ok {
				b = *p
			}
		}
		for {
			if len(b) == cap(b) {
				b = slices.Grow(b, min(max(512, cap(b)), int(h.Length)+1))
			}
			n, err := wc.rd.Read(b[len(b):cap(b)])
			b = b[:len(b)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				wc.buf = b
				if wc.msgTO > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
					return nil, errMessageTimeout
				}
				return nil, err
			}
		}
		if wc.msgTO > 0 && wc.msgTO < wc.idle {
			_ = wc.c.SetReadDeadline(time.Now().Add(wc.idle))
		}
		wc.buf = b
		if h.OpCode == ws.OpBinary {
			return nil, errBinary
		}
		return b, nil
	}
}

// msgBufs holds message buffers between messages, so that an idle
// connection holds none.
var msgBufs sync.Pool

// release gives the message buffer back; the message is no longer needed.
func (wc *wsConn) release() {
	if b := wc.buf[:0]; cap(b) > 0 && cap(b) <= 4096 {
		msgBufs.Put(&b)
	}
	wc.buf = nil
}

// flushControl writes a pending pong.
func (wc *wsConn) flushControl() error {
	wc.mu.Lock()
	pong := wc.pong
	wc.pong = nil
	wc.mu.Unlock()
	if pong == nil {
		return nil
	}
	_ = wc.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := wc.c.Write(appendFrame(nil, ws.OpPong, pong))
	return err
}

// appendFrame appends one unmasked, final frame.
func appendFrame(b []byte, op ws.OpCode, payload []byte) []byte {
	b = append(b, 0x80|byte(op))
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, payload...)
}

func appendClose(b []byte, code ws.StatusCode, why string) []byte {
	return appendFrame(b, ws.OpClose, ws.NewCloseFrameBody(code, why))
}

// wsReadError returns the disconnect a read failure means: what the client
// is told, if it can still be told, and the close code.
func wsReadError(err error) *disconnect {
	var perr ws.ProtocolError
	var d *disconnect
	switch {
	case errors.As(err, &d): // a ping over the rate limit
		return d
	case errors.Is(err, wsutil.ErrMessageTooLarge):
		return &disconnect{reason: reasonProtocol, code: ws.StatusMessageTooBig,
			err: &shared.ProtocolError{Code: shared.CodeTooLong, Message: "a message is longer than the gateway accepts"}}
	case errors.Is(err, wsutil.ErrInvalidUTF8):
		return &disconnect{reason: reasonProtocol, code: ws.StatusInvalidFramePayloadData,
			err: &shared.ProtocolError{Code: shared.CodeInvalidUTF8, Message: "a text frame is not valid UTF-8"}}
	case errors.Is(err, errBinary):
		return &disconnect{reason: reasonProtocol, code: ws.StatusUnsupportedData, err: errBinaryFrame}
	case errors.Is(err, errMessageTimeout):
		return protocolDisconnect(errMessageTimeoutPE)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return protocolDisconnect(&shared.ProtocolError{Code: shared.CodeHelloTimeout, Message: "no hello in time"})
	case errors.As(err, &perr):
		return &disconnect{reason: reasonProtocol, code: ws.StatusProtocolError}
	}
	return dcClientClosed
}

var errBinaryFrame = &shared.ProtocolError{Code: shared.CodeBadFrame, Message: "binary frame: send each message as one text frame"}

// helloReader is the reader hello needs: each text message, read errors
// mapped as before a session.
func (wc *wsConn) helloReader() ([]byte, *disconnect) {
	wc.release()
	msg, err := wc.next()
	if err != nil {
		return nil, wsReadError(err)
	}
	return msg, nil
}

// sessionReader is the reader of an open session. A binary message is no
// longer fatal (the framing survives: the client is told, and the session
// goes on, as after any malformed message); a read deadline means the
// client was silent for two pings, pongs included: gone, or not reading.
func (wc *wsConn) sessionReader(s *session) func() ([]byte, *disconnect) {
	return func() ([]byte, *disconnect) {
		for {
			wc.release()
			msg, err := wc.next()
			switch {
			case err == nil:
				return msg, nil
			case errors.Is(err, errBinary):
				if d := s.allow(); d != nil {
					return nil, d
				}
				s.sendError(errBinaryFrame)
				continue
			case errors.Is(err, os.ErrDeadlineExceeded):
				return nil, dcNoPong
			}
			return nil, wsReadError(err)
		}
	}
}

// wsHello reads the hello of an upgraded connection, under a deadline, and
// opens its session. Without a session it has closed the connection.
func (srv *Server) wsHello(c net.Conn, pending *bufio.Reader, cfg WSConfig) (*wsConn, *session) {
	wc := newWSConn(c, pending, srv.cfg.MaxMessageBytes)
	_ = c.SetReadDeadline(time.Now().Add(srv.cfg.HelloTimeout))
	s, d := srv.hello(wc.helloReader, c, func(s *session) { srv.wsWrite(wc, s, cfg.Ping) })
	if d != nil {
		refuseWS(c, d)
		srv.log.Debug("connection ended before hello", "remote", c.RemoteAddr().String(), "transport", "ws", "err", d)
		return nil, nil
	}
	wc.release()
	// From now on any frame, a pong included, proves the client is there.
	wc.idle = 2 * cfg.Ping
	wc.msgTO = srv.cfg.MessageTimeout
	_ = c.SetReadDeadline(time.Now().Add(wc.idle))
	wc.mu.Lock()
	wc.onCtl = s.signal
	// The first ping comes at a random point of the first interval, so that
	// clients connected together are not pinged together forever after. A
	// timer, not a goroutine: an idle connection has no writer.
	wc.ping = time.AfterFunc(cfg.Ping/2+rand.N(cfg.Ping/2+1), func() {
		wc.mu.Lock()
		wc.pingDue = true
		wc.mu.Unlock()
		s.signal()
	})
	wc.mu.Unlock()
	wc.allow = s.allow
	return wc, s
}

// refuseWS tells a client without a session why it has none, and closes.
func refuseWS(c net.Conn, d *disconnect) {
	var b []byte
	if d.err != nil {
		b = appendFrame(b, ws.OpText, shared.AppendError(nil, d.err.Code, d.err.Message))
	}
	b = appendClose(b, d.code, d.closeText())
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(b)
	c.Close()
}

// wsWrite is a WebSocket session's writer: it writes what the session
// queues, one text frame per message, with any pong or ping owed, every
// frame in one write, until nothing is left; when the session closes, it
// sends a close frame and closes the connection.
func (srv *Server) wsWrite(wc *wsConn, s *session, ping time.Duration) {
	var queue, frames []byte
	for {
		out, closing, more := s.next(queue, wc.pending)
		if !more {
			return
		}
		frames = frames[:0]
		wc.mu.Lock()
		if wc.pong != nil {
			frames = appendFrame(frames, ws.OpPong, wc.pong)
			wc.pong = nil
		}
		if wc.pingDue {
			wc.pingDue = false
			frames = appendFrame(frames, ws.OpPing, nil)
			wc.ping.Reset(ping)
		}
		wc.mu.Unlock()
		for rest := out; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n')
			frames = appendFrame(frames, ws.OpText, rest[:i])
			rest = rest[i+1:]
		}
		if closing {
			d := s.closedBy()
			frames = appendClose(frames, d.code, d.closeText())
		}
		if len(frames) > 0 {
			_ = wc.c.SetWriteDeadline(time.Now().Add(srv.cfg.WriteTimeout))
			if _, err := wc.c.Write(frames); err != nil {
				closing = true
				s.close(dcWrite)
			}
		}
		if closing {
			wc.mu.Lock()
			if wc.ping != nil { // nil if the session closed as it opened
				wc.ping.Stop()
			}
			wc.mu.Unlock()
			wc.c.Close()
			s.finish()
			return
		}
		queue = nil // a burst's buffers go back to the heap
		if cap(out) <= 4<<10 {
			queue = out
		}
		if cap(frames) > 4<<10 {
			frames = nil
		}
	}
}
