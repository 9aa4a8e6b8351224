package gateway

import (
	"bytes"
	"context"
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

// UDPConfig configures ServeUDP. The zero value is ready to use.
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

	mu       sync.Mutex // orders stop against the reader's deadlines
	stopping bool
}

// ServeUDP serves clients over UDP on pc until ctx is done or the gateway
// shuts down; then it ends every UDP session (watchers are told), and
// closes pc.
func (srv *Server) ServeUDP(ctx context.Context, pc *net.UDPConn, cfg UDPConfig) error {
	defer pc.Close()
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultUDPIdleTimeout
	}
	if cfg.IdleTimeout < 0 {
		return errors.New("gateway: udp idle timeout must be positive")
	}
	select { // sessions need Run's subscriptions
	case <-srv.ready:
	case <-ctx.Done():
		return nil
	}
	srv.mu.Lock()
	if srv.closing {
		srv.mu.Unlock()
		return nil
	}
	srv.wg.Add(1) // Run's shutdown waits for the sessions' close events
	srv.mu.Unlock()
	defer srv.wg.Done()

	u := &udpServer{srv: srv, pc: pc, idle: cfg.IdleTimeout, sessions: make(map[netip.AddrPort]*udpSession)}
	stopped, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
		case <-srv.done:
		case <-stopped:
			return
		}
		u.stop()
	}()
	err := u.readLoop()
	close(stopped)
	<-watched
	for _, us := range u.sessions {
		us.s.close(closeShutdown)
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
	var err error
	if len(data) > srv.cfg.MaxMessageBytes {
		err = fatalError{&shared.ProtocolError{Code: shared.CodeTooLong, Message: "a datagram is longer than the gateway accepts"}}
	} else {
		err = us.s.handle(data)
	}
	if err == nil {
		return
	}
	var fe fatalError
	if errors.As(err, &fe) {
		us.s.closeWithError(fe.ProtocolError)
	} else {
		us.s.close(closeLogout)
	}
	us.closed = true
}

// hello handles a datagram from an address without a session: it must be a
// hello. Whatever else it is gets an error back and no session.
func (u *udpServer) hello(addr netip.AddrPort, data []byte, now time.Time) {
	srv := u.srv
	var m shared.ClientMessage
	var pe *shared.ProtocolError
	switch {
	case len(data) > srv.cfg.MaxMessageBytes:
		pe = &shared.ProtocolError{Code: shared.CodeTooLong, Message: "a datagram is longer than the gateway accepts"}
	case len(trimSpace(data)) == 0:
		pe = &shared.ProtocolError{Code: shared.CodeHelloRequired,
			Message: `no session from this address: send a hello first: {"user_id": <id>, "friends": [<id>, ...]}`}
	default:
		if err := shared.DecodeClient(data, &m, srv.cfg.MaxFriends); err != nil {
			pe = asProtocolError(err)
		} else {
			pe = srv.validateHello(&m)
		}
	}
	if pe != nil {
		u.reply(addr, pe)
		return
	}
	us := &udpSession{addr: addr, last: now, done: make(chan struct{})}
	s, err := srv.open(&m, func(s *session) { u.writeLoop(us, s) })
	if err != nil {
		u.reply(addr, &shared.ProtocolError{Code: shared.CodeUnavailable, Message: "the gateway cannot take sessions now: " + err.Error()})
		return
	}
	s.debug("udp session", "remote", addr.String())
	us.s = s
	u.sessions[addr] = us
}

// reply sends an error to an address without a session.
func (u *udpServer) reply(addr netip.AddrPort, pe *shared.ProtocolError) {
	b := append(shared.AppendError(nil, pe.Code, pe.Message), '\n')
	_, _ = u.pc.WriteToUDPAddrPort(b, addr)
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
			us.s.closeWithError(&shared.ProtocolError{Code: shared.CodeIdleTimeout,
				Message: "no datagram for " + u.idle.String() + ": the session ended; send a hello to start again"})
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
			if s.reasonForClose() == closeShutdown {
				u.send(s, us.addr, append(shared.AppendError(nil, shared.CodeShutdown, "the gateway is shutting down: send your hello again"), '\n'))
			}
			us.ended = true
			u.srv.end(s)
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
