package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// A gateway's lifecycle, all of it here: New builds a Server; Serve
// subscribes, starts the publisher and the dispatcher, serves the listeners
// it is given (and the WebSocket handler's connections) until its context
// is done, then shuts down and returns once every goroutine it started has
// ended. A Server is served once.

// Listeners are the sockets Serve serves clients on; a nil one is off.
// WebSocket clients come through the handler WebSocket returns, which the
// binary mounts on its HTTP server. Serve closes the listeners it serves.
type Listeners struct {
	TCP net.Listener // JSON Lines
	// TLS, when set, makes TCP a TLS listener. Serve wraps each accepted
	// connection itself, rather than taking a tls.NewListener, so that the
	// handshake runs in the connection's own goroutine under the hello
	// deadline (plain TCP or silence on a TLS port is closed, not held), is
	// counted and closed by shutdown like any connection in its hello, and
	// comes after admission at accept: a refused connection costs no
	// handshake. GetCertificate lets the certificate change under it
	// (internal/certs).
	TLS *tls.Config
	UDP *net.UDPConn // one message per datagram
	// UDPConfig configures UDP sessions.
	UDPConfig UDPConfig
}

func (ls Listeners) close() {
	if ls.TCP != nil {
		ls.TCP.Close()
	}
	if ls.UDP != nil {
		ls.UDP.Close()
	}
}

// serveState is where a Server is in its life; it only moves forward.
type serveState int

const (
	stateNew      serveState = iota // not served yet
	stateStarting                   // Serve is subscribing
	stateServing                    // sessions may open
	stateStopping                   // Serve is shutting down, or has returned
)

// Errors of Serve.
var (
	errServed  = errors.New("gateway: Serve may be called only once")
	errClosing = errors.New("gateway: shutting down")
)

// Serve runs the gateway until ctx is done or a listener fails, which stops
// it too (its error is returned). Then it shuts down: it refuses new
// connections and sessions, queues a close on every session (WebSocket
// clients get close code 1001, every client the error "shutdown"), gives
// their writers Config.CloseGrace to send what is queued, closes whatever
// connection is still open, lets the sessions' close events reach presence
// (so watchers hear "offline" at once) and says goodbye; what it waits on
// from NATS is bounded by Config.DrainTimeout. It returns once every
// goroutine it started has ended, and closes the listeners. A second call
// returns an error at once.
func (srv *Server) Serve(ctx context.Context, ls Listeners) error {
	srv.mu.Lock()
	if srv.state != stateNew {
		srv.mu.Unlock()
		return errServed
	}
	srv.state = stateStarting
	srv.mu.Unlock()
	defer ls.close()
	udpCfg := ls.UDPConfig.withDefaults()
	if err := udpCfg.validate(); err != nil {
		srv.abort()
		return err
	}
	// Before anything is published under our id: does another run hold it?
	if err := srv.claim.start(); err != nil {
		srv.abort()
		return err
	}
	defer srv.claim.stop()

	ctl, err := srv.nc.ChanSubscribe(srv.subjects.Gateway(srv.cfg.ID), srv.inbox)
	if err != nil {
		srv.abort()
		return fmt.Errorf("gateway: subscribe: %w", err)
	}
	up, err := srv.nc.ChanSubscribe(srv.subjects.PresenceUp(), srv.inbox)
	if err != nil {
		_ = ctl.Unsubscribe()
		srv.abort()
		return fmt.Errorf("gateway: subscribe: %w", err)
	}
	reconnected := srv.nc.StatusChanged(nats.CONNECTED)

	stopFriends := srv.startFriends(ctx)
	var loops sync.WaitGroup // the publisher and the dispatcher
	stopPub, stopDisp := make(chan struct{}), make(chan struct{})
	loops.Go(func() { srv.publishLoop(stopPub) })
	loops.Go(func() { srv.dispatchLoop(stopDisp) })

	srv.mu.Lock()
	srv.state = stateServing
	srv.mu.Unlock()
	close(srv.started)
	srv.log.Info("gateway running", "boot", srv.boot)

	failed := make(chan error, 2) // a listener's failure
	var accept sync.WaitGroup
	if ls.TCP != nil {
		accept.Go(func() {
			if err := srv.acceptLoop(ls.TCP, ls.TLS); err != nil {
				failed <- err
			}
		})
	}
	var u *udpServer
	if ls.UDP != nil {
		u = srv.newUDPServer(ls.UDP, udpCfg)
		srv.wg.Add(1) // before shutdown can wait: the state is serving
		go func() {
			defer srv.wg.Done()
			if err := u.serve(); err != nil {
				failed <- err
			}
		}()
	}

	var served error
	for served == nil {
		select {
		case <-reconnected:
			srv.log.Info("reconnected to nats, resynchronising")
			srv.requestResync()
			continue
		case served = <-failed:
			srv.log.Error("listener failed, stopping", "err", served)
		case <-ctx.Done():
		}
		break
	}

	srv.shutdown(ls, u, &accept)
	stopFriends()  // before the publisher: a change may wait for it to take its update
	close(stopPub) // the publisher sends the last closes, bye, and flushes
	srv.nc.RemoveStatusListener(reconnected)
	_ = ctl.Unsubscribe()
	_ = up.Unsubscribe()
	// NATS may still hold a message for inbox, so inbox is never closed.
	close(stopDisp)
	loops.Wait()
	srv.log.Info("gateway stopped")
	return served
}

// abort ends a Serve that could not start.
func (srv *Server) abort() {
	srv.mu.Lock()
	srv.state = stateStopping
	srv.mu.Unlock()
	close(srv.started)
	close(srv.stopping)
}

// shutdown ends every connection and session, politely first: each session
// is told why and its writer given CloseGrace to write it, then whatever is
// still open is closed. It returns once every connection's and session's
// goroutine has ended (their close events are queued for the publisher by
// then), and sets drainBy for the publisher's final flush.
func (srv *Server) shutdown(ls Listeners, u *udpServer, accept *sync.WaitGroup) {
	start := time.Now()
	srv.drainBy = start.Add(srv.cfg.DrainTimeout)
	close(srv.stopping)
	srv.mu.Lock()
	srv.state = stateStopping
	for _, s := range srv.sessions {
		s.close(dcShutdown)
	}
	for c, hasSession := range srv.conns {
		if !hasSession {
			c.Close() // still in its hello: nothing to say goodbye to
		}
	}
	srv.mu.Unlock()
	if ls.TCP != nil {
		ls.TCP.Close()
	}
	if u != nil {
		u.stop()
	}
	accept.Wait()

	ended := make(chan struct{})
	go func() {
		srv.wg.Wait()
		close(ended)
	}()
	grace := time.NewTimer(min(srv.cfg.CloseGrace, srv.cfg.DrainTimeout))
	defer grace.Stop()
	select {
	case <-ended:
		return
	case <-grace.C:
	}
	// A writer blocked on a client that does not read: close under it.
	srv.mu.Lock()
	n := len(srv.conns)
	for c := range srv.conns {
		c.Close()
	}
	srv.mu.Unlock()
	if ls.UDP != nil {
		ls.UDP.Close()
	}
	srv.log.Warn("connections still open after the close grace, closed", "connections", n, "grace", srv.cfg.CloseGrace)
	<-ended
}

// finalFlush waits for NATS to have taken what the publisher sent, until
// drainBy at most: a gateway cut off from NATS must still stop in time.
// Disconnected, there is nothing to wait for: publishes fail rather than
// wait in a buffer (the binaries' NATS options), so nothing is pending.
func (srv *Server) finalFlush() error {
	if !srv.nc.IsConnected() {
		return nil
	}
	return srv.nc.FlushTimeout(max(time.Until(srv.drainBy), time.Millisecond))
}

// acceptLoop accepts TCP connections on ln until shutdown closes ln, or ln
// fails. With tlsCfg each is served over TLS.
func (srv *Server) acceptLoop(ln net.Listener, tlsCfg *tls.Config) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if !srv.serving() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors, say: back off, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				srv.log.Warn("accept failed", "err", err, "retry", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-srv.stopping:
					return nil
				}
			}
			return fmt.Errorf("gateway: accept: %w", err)
		}
		backoff = 0
		// Admitted before anything else, on the raw connection: a
		// refused source costs the socket and one line (with TLS, not
		// even the line: it would cost a handshake).
		c, ok := srv.admit(c, tlsCfg == nil)
		if !ok {
			continue
		}
		if tlsCfg != nil {
			c = tls.Server(c, tlsCfg) // the handshake runs in serveConn
		}
		if !srv.track(c) {
			c.Close()
			continue
		}
		go func() {
			defer srv.wg.Done()
			if !srv.serveConn(c) { // else the session's reader owns c now
				srv.untrack(c)
			}
		}()
	}
}

// serving reports whether sessions may open.
func (srv *Server) serving() bool {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return srv.state == stateServing
}

// track registers a connection for shutdown and counts its goroutine in wg,
// unless the gateway is not serving (then the caller closes it).
func (srv *Server) track(c net.Conn) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.state != stateServing {
		return false
	}
	srv.conns[c] = false
	srv.wg.Add(1)
	return true
}

func (srv *Server) untrack(c net.Conn) {
	srv.mu.Lock()
	delete(srv.conns, c)
	srv.mu.Unlock()
}
