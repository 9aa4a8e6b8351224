package gateway

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/alo-presence/alo/shared"
)

// UDP: one client message per datagram, one server message per datagram
// (each ends with a line break, so `nc -u` shows one per line). A session is
// keyed by the sender's address: its hello opens it, any datagram keeps it
// alive, and silence for UDPConfig.IdleTimeout ends it as a close would.
//
// One goroutine reads the socket for every session and expires the silent
// ones; each session has a writer goroutine, as on the other transports.

// UDPConfig configures UDP sessions (Listeners.UDPConfig). The zero value is ready to use.
type UDPConfig struct {
	// IdleTimeout ends a session whose client has sent no datagram for this
	// long; its watchers are told it went offline. Default 30s.
	IdleTimeout time.Duration
}

// DefaultUDPIdleTimeout is the default of UDPConfig.IdleTimeout.
const DefaultUDPIdleTimeout = 30 * time.Second

// udpSession is one UDP client: its session and what the reader knows of it.
type udpSession struct {
	s      *session
	addr   netip.AddrPort
	last   time.Time // the last datagram; reader only
	closed bool      // the reader has closed the session; reader only
	lease  Lease     // the address's admission, released when the session has ended

	// mu orders the reader's handling of a datagram against the writer's
	// end of the session, so that no event of the session is published
	// after its close, and no reply to a datagram from its address is sent
	// before its last words.
	mu    sync.Mutex
	ended bool          // the writer has sent the last datagram and ended the session
	done  chan struct{} // closed once ended
}

type udpServer struct {
	srv  *Server
	pc   *net.UDPConn
	idle time.Duration

	sessions map[netip.AddrPort]*udpSession // reader only
	msg      shared.ClientMessage           // a hello being decoded; reader only
	out      []byte                         // a reply to an address without a session; reader only

	mu       sync.Mutex // orders stop against the reader's deadlines
	stopping bool
}

func (srv *Server) newUDPServer(pc *net.UDPConn, cfg UDPConfig) *udpServer {
	return &udpServer{srv: srv, pc: pc, idle: cfg.IdleTimeout, sessions: make(map[netip.AddrPort]*udpSession)}
}

func (c UDPConfig) withDefaults() UDPConfig {
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultUDPIdleTimeout
	}
	return c
}

func (c UDPConfig) validate() error {
	if c.IdleTimeout < 0 {
		return errors.New("gateway: udp idle timeout must be positive")
	}
	return nil
}

// serve reads datagrams until stop (or the socket fails); then it ends
// every UDP session and waits until each has sent its last datagram. The
// socket is Serve's to close.
func (u *udpServer) serve() error {
	err := u.readLoop()
	for _, us := range u.sessions {
		us.s.close(dcShutdown)
	}
	for _, us := range u.sessions {
		<-us.done // the writer sent the last datagram and ended the session
	}
	return err
}

// stop interrupts the reader.
func (u *udpServer) stop() {
	u.mu.Lock()
	u.stopping = true
	_ = u.pc.SetReadDeadline(time.Unix(1, 0))
	u.mu.Unlock()
}

// setDeadline sets the reader's next wake-up, unless stop has come.
func (u *udpServer) setDeadline(t time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopping {
		return false
	}
	_ = u.pc.SetReadDeadline(t)
	return true
}

func (u *udpServer) readLoop() error {
	srv := u.srv
	// One byte more than the limit, to tell a datagram over it.
	buf := make([]byte, srv.cfg.MaxMessageBytes+1)
	sweepEvery := min(max(u.idle/4, time.Millisecond), time.Second)
	nextSweep := time.Now().Add(sweepEvery)
	if !u.setDeadline(nextSweep) {
		return nil
	}
	var backoff time.Duration
	for {
		n, addr, err := u.pc.ReadFromUDPAddrPort(buf)
		now := time.Now()
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			var ne net.Error
			if errors.Is(err, net.ErrClosed) || !errors.As(err, &ne) {
				return nil
			}
			// Transient (out of buffers, say): back off a little.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			srv.log.Warn("udp read failed", "err", err, "retry", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if err == nil {
			u.datagram(addr, buf[:n], now)
		}
		if !now.Before(nextSweep) {
			u.sweep(now)
			nextSweep = now.Add(sweepEvery)
			if !u.setDeadline(nextSweep) {
				return nil
			}
		} else if err != nil && !u.setDeadline(nextSweep) {
			return nil
		}
	}
}

// datagram handles one datagram from addr.
func (u *udpServer) datagram(addr netip.AddrPort, data []byte, now time.Time) {
	srv := u.srv
	us := u.sessions[addr]
	if us != nil && us.closed {
		// The reader ended it: wait for its last words, which are on
		// their way, so that this datagram is answered after them.
		<-us.done
	}
	if us != nil {
		us.mu.Lock()
		if us.ended {
			us.mu.Unlock()
			delete(u.sessions, addr)
			us = nil
		}
	}
	if us == nil {
		u.hello(addr, data, now)
		return
	}
	defer us.mu.Unlock()
	us.last = now
	d := errUDPTooLong
	if len(data) <= srv.cfg.MaxMessageBytes {
		d = us.s.handle(data)
	}
	if d != nil {
		us.s.close(d)
		us.closed = true
	}
}

// errUDPTooLong ends a session, or refuses a hello, whose datagram is over
// the size limit.
var errUDPTooLong = protocolDisconnect(&shared.ProtocolError{Code: shared.CodeTooLong, Message: "a datagram is longer than the gateway accepts"})

// errUDPNoHello refuses a datagram from an address without a session that
// is not a hello.
var errUDPNoHello = protocolDisconnect(&shared.ProtocolError{Code: shared.CodeHelloRequired,
	Message: `no session from this address: send a hello first: {"user_id": <id>, "friends": [<id>, ...]}`})

// hello handles a datagram from an address without a session: it must be a
// hello, alone (a blank datagram is no keep-alive here: there is nothing to
// keep alive). Whatever else it is gets an error back and no session.
//
// The order is udpGate's: decode (bounded by the datagram); the cookie,
// which proves the address receives; only then admission against the
// address's connection slots, and the hello's own checks and the session.
// Every reply goes through errorReply, so none is larger than the datagram
// and each address gets a bounded rate of them.
func (u *udpServer) hello(addr netip.AddrPort, data []byte, now time.Time) {
	srv := u.srv
	if len(data) > srv.cfg.MaxMessageBytes {
		u.reply(addr, errUDPTooLong, len(data))
		return
	}
	m := &u.msg
	if len(trimSpace(data)) == 0 {
		u.reply(addr, errUDPNoHello, len(data))
		return
	}
	if err := shared.DecodeClient(data, m, srv.cfg.MaxFriends); err != nil {
		u.reply(addr, asDisconnect(err), len(data))
		return
	}
	if !m.HasToken || srv.cfg.Auth == nil {
		if pe := validateHello(m); pe != nil {
			// Not a hello: refused before it can take the address's
			// slots or rate (a forged source could spend them), and
			// before a token is checked (verifyHello, after the cookie).
			u.reply(addr, protocolDisconnect(pe), len(data))
			return
		}
	}
	reply, ok := srv.udpGate.checkHello(u.out[:0], addr, helloCookie(m), len(data))
	if !ok {
		if reply != nil {
			u.out = reply
			_, _ = u.pc.WriteToUDPAddrPort(reply, addr)
		}
		return
	}
	lease, err := srv.adm.Admit(addr.Addr())
	if err != nil {
		srv.rlog.Info("udp_refused", "udp session refused", "remote", addr.String(), "err", err)
		u.reply(addr, openRefusal(err), len(data))
		return
	}
	read := false
	next := func() ([]byte, *disconnect) {
		if read {
			return nil, errUDPNoHello
		}
		read = true
		return data, nil
	}
	us := &udpSession{addr: addr, last: now, lease: lease, done: make(chan struct{})}
	s, d := srv.hello(next, nil, func(s *session) { u.writeLoop(us, s) })
	if d != nil {
		lease.Release()
		u.reply(addr, d, len(data))
		return
	}
	s.debug("udp session", "remote", addr.String())
	us.s = s
	u.sessions[addr] = us
	srv.metrics.connsUDP.Add(1)
}

// reply sends an error to an address without a session, for a datagram of
// n bytes: cut to fit in n bytes, and within the address's reply rate.
func (u *udpServer) reply(addr netip.AddrPort, d *disconnect, n int) {
	if d.err == nil {
		return
	}
	if b := u.srv.udpGate.errorReply(u.out[:0], addr, d.err, n); b != nil {
		u.out = b
		_, _ = u.pc.WriteToUDPAddrPort(b, addr)
	}
}

// sweep ends the sessions that have been silent for the idle timeout, and
// forgets those that have ended.
func (u *udpServer) sweep(now time.Time) {
	for addr, us := range u.sessions {
		us.mu.Lock()
		ended := us.ended
		us.mu.Unlock()
		switch {
		case ended:
			delete(u.sessions, addr)
		case !us.closed && now.Sub(us.last) >= u.idle:
			us.s.close(&disconnect{reason: reasonIdle, err: &shared.ProtocolError{Code: shared.CodeIdleTimeout,
				Message: "no datagram for " + u.idle.String() + ": the session ended; send a hello to start again"}})
			us.closed = true
			us.s.debug("udp session expired")
		}
	}
}

// writeLoop is a UDP session's writer: it sends what the session queues,
// one datagram per message, until nothing is left; when the session closes,
// it ends it.
func (u *udpServer) writeLoop(us *udpSession, s *session) {
	var buf []byte
	for {
		out, closing, more := s.next(buf, nil)
		if !more {
			return
		}
		if closing {
			// The last words and the end under us.mu: a reply to a later
			// datagram from the address cannot overtake them.
			us.mu.Lock()
		}
		for rest := out; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n')
			u.send(s, us.addr, rest[:i+1])
			rest = rest[i+1:]
		}
		if closing {
			us.ended = true
			u.srv.metrics.connsUDP.Add(-1)
			u.srv.end(s)
			us.lease.Release()
			us.mu.Unlock()
			close(us.done)
			s.finish()
			return
		}
		buf = out
		if cap(buf) > 64<<10 {
			buf = nil
		}
	}
}

// send writes one datagram. UDP promises nothing, so a failure is only
// logged: a message too big for a datagram, say.
func (u *udpServer) send(s *session, addr netip.AddrPort, msg []byte) {
	if _, err := u.pc.WriteToUDPAddrPort(msg, addr); err != nil {
		s.debug("udp send failed", "err", err, "bytes", strconv.Itoa(len(msg)))
	}
}
