package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/shared"
)

// Server is a gateway. Create it with New, start its NATS side with Run, and
// hand it listeners with ServeTCP.
type Server struct {
	nc       *nats.Conn
	log      *slog.Logger
	rlog     *shared.RateLog // for what anything on the bus can trigger
	claim    *claim          // this run's claim on cfg.ID (claim.go)
	cfg      Config
	subjects shared.Subjects
	boot     string // distinguishes this run of the gateway from earlier ones
	nextID   atomic.Uint64

	inbox  chan *nats.Msg    // every subscription feeds this
	events chan shared.Event // session events, to the publisher
	resync chan struct{}     // asks the publisher for a resync
	ready  chan struct{}     // closed once Run has subscribed
	done   chan struct{}     // closed when Run begins to shut down
	wg     sync.WaitGroup    // connection goroutines

	mu       sync.RWMutex
	closing  bool
	users    map[int64]*userEntry
	sessions map[string]*session
	conns    map[net.Conn]struct{} // open connections, for shutdown
}

// New returns a gateway that talks to presence through nc.
func New(nc *nats.Conn, log *slog.Logger, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	subjects, err := shared.NewSubjects(cfg.Prefix)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	srv := &Server{
		nc:       nc,
		log:      log.With("gateway", cfg.ID),
		rlog:     shared.NewRateLog(log.With("gateway", cfg.ID), 0),
		cfg:      cfg,
		subjects: subjects,
		boot:     randomHex(4),
		inbox:    make(chan *nats.Msg, cfg.Inbox),
		events:   make(chan shared.Event, 4096),
		resync:   make(chan struct{}, 1),
		ready:    make(chan struct{}),
		done:     make(chan struct{}),
		users:    make(map[int64]*userEntry),
		sessions: make(map[string]*session),
		conns:    make(map[net.Conn]struct{}),
	}
	srv.claim = newClaim(srv)
	// NATS drops what a subscription's channel cannot take (a burst bigger
	// than Inbox): the sessions it was for would miss a state, so a drop
	// makes the gateway resend its sessions, and presence sends each one
	// its corrections. The connection's own handler still runs.
	prev := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			srv.requestResync()
		}
		if prev != nil {
			prev(c, sub, err)
		}
	})
	return srv, nil
}

// ID returns the gateway's id.
func (srv *Server) ID() string { return srv.cfg.ID }

// Run runs the gateway's NATS side until ctx is done. Then it closes every
// session, tells presence (so watchers hear "offline" at once), waits for
// every goroutine it and ServeTCP started, and returns.
func (srv *Server) Run(ctx context.Context) error {
	if err := srv.claim.start(); err != nil {
		return err
	}
	defer srv.claim.stop()
	ctl, err := srv.nc.ChanSubscribe(srv.subjects.Gateway(srv.cfg.ID), srv.inbox)
	if err != nil {
		return fmt.Errorf("gateway: subscribe: %w", err)
	}
	up, err := srv.nc.ChanSubscribe(srv.subjects.PresenceUp(), srv.inbox)
	if err != nil {
		ctl.Unsubscribe()
		return fmt.Errorf("gateway: subscribe: %w", err)
	}
	reconnected := srv.nc.StatusChanged(nats.CONNECTED)

	pubDone := make(chan struct{})
	stopPub := make(chan struct{})
	go func() {
		defer close(pubDone)
		srv.publishLoop(stopPub)
	}()
	dispDone := make(chan struct{})
	stopDisp := make(chan struct{})
	go func() {
		defer close(dispDone)
		srv.dispatchLoop(stopDisp)
	}()
	close(srv.ready)
	srv.log.Info("gateway running", "boot", srv.boot)

	for {
		select {
		case <-reconnected:
			srv.log.Info("reconnected to nats, resynchronising")
			srv.requestResync()
			continue
		case <-ctx.Done():
		}
		break
	}

	// Shut down: refuse new sessions, close the open ones, let their close
	// events reach presence, then say goodbye.
	close(srv.done)
	srv.mu.Lock()
	srv.closing = true
	for c := range srv.conns {
		c.Close()
	}
	for _, s := range srv.sessions {
		s.close(closeShutdown)
	}
	srv.mu.Unlock()
	srv.wg.Wait()
	close(stopPub)
	<-pubDone
	srv.nc.RemoveStatusListener(reconnected)
	ctl.Unsubscribe()
	up.Unsubscribe()
	// NATS may still hold a message for inbox, so inbox is never closed.
	close(stopDisp)
	<-dispDone
	srv.log.Info("gateway stopped")
	return nil
}

// ServeTCP accepts client connections on ln until ctx is done or ln fails.
// Connections it accepted are closed by Run's shutdown.
func (srv *Server) ServeTCP(ctx context.Context, ln net.Listener) error {
	select { // sessions need Run's subscriptions
	case <-srv.ready:
	case <-ctx.Done():
		ln.Close()
		return nil
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
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
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("gateway: accept: %w", err)
		}
		backoff = 0
		if !srv.track(c) {
			c.Close()
			continue
		}
		go func() {
			if !srv.serveConn(c) { // else the session's reader owns c now
				srv.untrack(c)
				srv.wg.Done()
			}
		}()
	}
}

// track registers a connection for shutdown, unless shutdown has begun.
func (srv *Server) track(c net.Conn) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closing {
		return false
	}
	srv.conns[c] = struct{}{}
	srv.wg.Add(1)
	return true
}

func (srv *Server) untrack(c net.Conn) {
	srv.mu.Lock()
	delete(srv.conns, c)
	srv.mu.Unlock()
}

// validateHello checks a decoded first message.
func (srv *Server) validateHello(m *shared.ClientMessage) *shared.ProtocolError {
	switch {
	case !m.HasUserID:
		return &shared.ProtocolError{Code: shared.CodeHelloRequired,
			Message: `the first message must be a hello: {"user_id": <id>, "friends": [<id>, ...]}`}
	case m.HasOnline && !m.Online:
		return &shared.ProtocolError{Code: shared.CodeHelloRequired, Message: "logout before hello: there is no session to end"}
	}
	return nil
}

// open starts a session for a validated hello: it registers it, subscribes
// to its user, and tells presence. writer is the transport's writer, which
// the session runs whenever it has output (see session).
func (srv *Server) open(m *shared.ClientMessage, writer func(*session)) (*session, error) {
	s := &session{
		srv:     srv,
		id:      srv.boot + "-" + strconv.FormatUint(srv.nextID.Add(1), 36),
		user:    m.UserID,
		friends: shared.NormalizeFriends(append([]int64(nil), m.Friends...), m.UserID),
		done:    make(chan struct{}),
		tokens:  float64(srv.cfg.RateBurst),
		last:    time.Now(),
	}
	s.writer = func() { writer(s) }
	if err := srv.claim.refusal(); err != nil {
		return nil, err
	}
	srv.mu.Lock()
	err := srv.addLocked(s)
	srv.mu.Unlock()
	if err != nil {
		return nil, err
	}
	srv.publishEvent(shared.Event{Type: shared.EventOpen, Session: s.id, User: s.user, Friends: s.friends})
	s.debug("session open", "friends", len(s.friends))
	return s, nil
}

// end tells presence that a session ended, and unregisters it. The close
// event is queued first, so that whatever is published after the session
// left the gateway's books comes after its close.
func (srv *Server) end(s *session) {
	srv.mu.RLock()
	registered := srv.sessions[s.id] == s
	srv.mu.RUnlock()
	if !registered {
		return
	}
	srv.publishEvent(shared.Event{Type: shared.EventClose, Session: s.id, User: s.user})
	srv.mu.Lock()
	srv.removeLocked(s)
	srv.mu.Unlock()
	s.debug("session closed", "reason", s.reason.String())
}

// publishEvent hands an event to the publisher, in order.
func (srv *Server) publishEvent(ev shared.Event) { srv.events <- ev }

// requestResync asks the publisher to resend every session.
func (srv *Server) requestResync() {
	select {
	case srv.resync <- struct{}{}:
	default:
	}
}

// Stats is a summary of a gateway's state.
type Stats struct {
	Users    int `json:"users"`
	Sessions int `json:"sessions"`
	Conns    int `json:"connections"`
}

// Stats returns a summary of the gateway's state.
func (srv *Server) Stats() Stats {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return Stats{Users: len(srv.users), Sessions: len(srv.sessions), Conns: len(srv.conns)}
}
