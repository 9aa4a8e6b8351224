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
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/friends"
	"github.com/alo-presence/alo/shared"
)

// Server is a gateway. Create it with New and run it with Serve, which owns
// its whole lifecycle: the NATS side, the listeners it is given, every
// connection and session, and the shutdown (serve.go).
type Server struct {
	nc       *nats.Conn
	log      *slog.Logger
	rlog     *shared.RateLog // for what anything on the bus can trigger
	claim    *claim          // this run's claim on cfg.ID (claim.go)
	metrics  *metrics
	cfg      Config
	subjects shared.Subjects
	boot     string // distinguishes this run of the gateway from earlier ones
	nextID   atomic.Uint64
	adm      *Admission  // connections per source and in total (limits.go)
	ulim     *UserLimits // sessions and friend-list changes per user
	udpGate  *udpGate    // what a UDP address without a session gets back
	// statusClock is the last time stampStatus handed out.
	statusClock atomic.Int64

	inbox  chan *nats.Msg    // every subscription feeds this
	events chan shared.Event // session events, to the publisher
	resync chan struct{}     // asks the publisher for a resync

	started  chan struct{} // closed once Serve serves (or has failed to start)
	stopping chan struct{} // closed when Serve begins to shut down
	drainBy  time.Time     // set before the publisher is stopped: when the drain ends
	// wg counts every goroutine of a connection or a session: TCP and
	// WebSocket connections, session writers, the UDP reader. A count is
	// only added while the state is serving or by a goroutine already
	// counted, so shutdown can wait for it.
	wg sync.WaitGroup

	mu       sync.RWMutex
	state    serveState
	users    map[int64]*userEntry
	sessions map[string]*session
	conns    map[net.Conn]bool // open connections; true once one carries a session

	// With a FriendStore (friends.go): hellos between their lookup and
	// registration, and the watcher's context, which hellos' lookups use.
	pending    friends.Pending
	friendsCtx context.Context
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
	adm, err := NewAdmission(cfg.Admission)
	if err != nil {
		return nil, err
	}
	ulim, err := NewUserLimits(cfg.Users, adm.Config().MaxConns)
	if err != nil {
		return nil, err
	}
	srv := &Server{
		nc:       nc,
		log:      log.With("gateway", cfg.ID),
		rlog:     shared.NewRateLog(log.With("gateway", cfg.ID), 0),
		cfg:      cfg,
		adm:      adm,
		ulim:     ulim,
		udpGate:  newUDPGate(cfg.UDPGate.NoCookie, cfg.UDPGate.CookieWindow, cfg.UDPGate.RepliesPerIP, cfg.UDPGate.ReplyBurst),
		subjects: subjects,
		boot:     randomHex(4),
		inbox:    make(chan *nats.Msg, cfg.Inbox),
		events:   make(chan shared.Event, 4096),
		resync:   make(chan struct{}, 1),
		started:  make(chan struct{}),
		stopping: make(chan struct{}),
		users:    make(map[int64]*userEntry),
		sessions: make(map[string]*session),
		conns:    make(map[net.Conn]bool),
	}
	srv.claim = newClaim(srv)
	if srv.metrics, err = newMetrics(srv, cfg.Metrics); err != nil {
		return nil, fmt.Errorf("gateway: metrics: %w", err)
	}
	// NATS drops what a subscription's channel cannot take (a burst bigger
	// than Inbox): the sessions it was for would miss a state, so a drop
	// makes the gateway resend its sessions, and presence sends each one
	// its corrections. The connection's own handler still runs.
	prev := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			srv.metrics.slowConsumer.Inc()
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

// open starts a session for a verified hello: it registers it, subscribes
// to its user, and tells presence. writer is the transport's writer, which
// the session runs whenever it has output (see session). With --friends kv
// id.looked is the store's list (lookupFriends), pending until the session
// is registered.
func (srv *Server) open(id *identity, status *helloStatus, c net.Conn, writer func(*session)) (*session, error) {
	user, friends, looked := id.user, id.friends, id.looked
	s := &session{
		srv:     srv,
		id:      srv.boot + "-" + strconv.FormatUint(srv.nextID.Add(1), 36),
		user:    user,
		friends: shared.NormalizeFriends(append([]int64(nil), friends...), user),
		done:    make(chan struct{}),
		tokens:  float64(srv.cfg.RateBurst),
		last:    time.Now(),
		// openedAt: the hello's time, for alo_gateway_hello_to_ready_seconds.
		openedAt: nanotime(),
	}
	s.writer = func() { writer(s) }
	if looked != nil {
		s.friends = nil // the store's, set by trustLocked
	}
	if err := srv.claim.refusal(); err != nil {
		srv.abandonLookup(looked)
		return nil, err
	}
	srv.mu.Lock()
	err := srv.addLocked(s)
	srv.trustLocked(s, looked, err == nil)
	if _, tracked := srv.conns[c]; err == nil && tracked {
		srv.conns[c] = true // shutdown lets its writer say goodbye
	}
	srv.mu.Unlock()
	if err != nil {
		return nil, err
	}
	srv.metrics.accepted.Inc()
	if id.managed {
		// Before the open is published: the refusal comes before the
		// snapshot, whatever the timing.
		s.sendError(errFriendsManaged)
	}
	n := s.publishOpen(status)
	s.debug("session open", "friends", n)
	return s, nil
}

// end tells presence that a session ended, and unregisters it. The close
// event is queued first, so that whatever is published after the session
// left the gateway's books comes after its close.
func (srv *Server) end(s *session) {
	srv.mu.RLock()
	registered := srv.sessions[s.id] == s
	srv.mu.RUnlock()
	s.stopExpiry()
	if !registered {
		return
	}
	s.publishClose()
	srv.mu.Lock()
	srv.removeLocked(s)
	srv.mu.Unlock()
	srv.metrics.closed(s.closedBy())
	s.debug("session closed", "reason", s.closedBy().reason.String())
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
