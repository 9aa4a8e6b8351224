package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alo-presence/alo/shared"
)

// Errors returned by the Client.
var (
	// ErrRejected: before the session was ready, the server sent an error
	// about the hello itself (a bad id, too many friends, ...) and closed
	// the connection, so retrying the same hello would only be rejected
	// again. The error text carries the server's code. Errors that say
	// nothing about the hello, like shutdown or unavailable, are retried.
	ErrRejected = errors.New("client: rejected by server")
	// ErrLoggedOut: the operation came after Logout.
	ErrLoggedOut = errors.New("client: logged out")
	// ErrBadStatus: a status that is none of shared's Status constants.
	ErrBadStatus = errors.New("client: status must be online, away, dnd or invisible")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("client: already running")
)

// Config configures a Client. Addr and UserID are required.
type Config struct {
	// Addr is the gateway: "host:port" or "tcp://host:port" for TCP JSON
	// Lines, "ws://host:port/ws" for WebSocket (see Dial).
	Addr string
	// UserID is who the client signs in as: a positive integer.
	UserID int64
	// Friends is the initial friend list. Duplicates and UserID are dropped.
	Friends []int64
	// Status and Text are the initial status, sent in the hello. Default:
	// online, no text (then the hello is a v1 hello).
	Status shared.Status
	Text   string

	// Dial opens connections. Default: Dial, which picks the transport from
	// Addr's scheme. Tests replace it to inject faults.
	Dial DialFunc
	// DialTimeout bounds one connection attempt. Default: 5s.
	DialTimeout time.Duration
	// MinBackoff is the delay before the first reconnect after a drop.
	// Default: 250ms.
	MinBackoff time.Duration
	// MaxBackoff caps the delay, which doubles per failure in a row.
	// Default: 10s.
	MaxBackoff time.Duration
	// LogoutTimeout is how long the client waits, after sending logout,
	// for the server to close before closing itself. Default: 2s.
	LogoutTimeout time.Duration
	// EventBuffer is the capacity of the Events channel. Default: 64.
	EventBuffer int
}

func (c Config) withDefaults() Config {
	if c.Dial == nil {
		c.Dial = Dial
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.LogoutTimeout <= 0 {
		c.LogoutTimeout = 2 * time.Second
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 64
	}
	return c
}

func (c Config) validate() error {
	if !c.Status.Valid() {
		return ErrBadStatus
	}
	if err := shared.CheckStatusText(c.Text); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if c.Addr == "" {
		return errors.New("client: Config.Addr is required")
	}
	if c.UserID <= 0 {
		return fmt.Errorf("%w: %d", ErrBadID, c.UserID)
	}
	return nil
}

// Client is one user's connection to ALO, kept up across drops. Create it
// with New, start it with Run, read its Events, and change it with
// SetFriends and Logout from any goroutine.
type Client struct {
	cfg    Config
	log    *slog.Logger
	events chan Event

	running  atomic.Bool
	quit     chan struct{} // closed by Logout
	quitOnce sync.Once

	// mu guards friends and conn, and is held across writes so that a
	// friend-list update can never overtake the hello it follows.
	mu      sync.Mutex
	friends []int64
	status  shared.Status
	text    string
	conn    Conn // nil while disconnected
}

// New returns a Client for cfg; it does not connect until Run. log may be
// nil to discard the client's own logs (events are reported either way).
func New(cfg Config, log *slog.Logger) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	friends, err := normalizeFriends(cfg.Friends, cfg.UserID)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg:     cfg,
		log:     log.With("user", cfg.UserID, "addr", cfg.Addr),
		events:  make(chan Event, cfg.EventBuffer),
		quit:    make(chan struct{}),
		friends: friends,
		status:  cfg.Status,
		text:    cfg.Text,
	}, nil
}

// Events returns the channel of events. The caller must keep reading it
// while Run runs: the client reads the server only as fast as events are
// taken, and a gateway disconnects clients that fall behind. Run closes it
// when it returns.
func (c *Client) Events() <-chan Event { return c.events }

// UserID returns the user the client signs in as.
func (c *Client) UserID() int64 { return c.cfg.UserID }

// Friends returns the current friend list, sorted.
func (c *Client) Friends() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.friends)
}

// SetFriends replaces the friend list and returns it normalised (sorted,
// without duplicates or self). If connected, the update is sent now; either
// way the list is kept and every later hello carries it, so an error from
// sending loses nothing once the client reconnects.
func (c *Client) SetFriends(ids []int64) ([]int64, error) {
	friends, err := normalizeFriends(ids, c.cfg.UserID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loggingOut() {
		return nil, ErrLoggedOut
	}
	c.friends = friends
	if c.conn == nil {
		return slices.Clone(friends), nil
	}
	if err := c.conn.WriteMessage(shared.AppendFriends(nil, friends)); err != nil {
		return slices.Clone(friends), fmt.Errorf("client: send friends: %w", err)
	}
	return slices.Clone(friends), nil
}

// Status returns the status the client sets, and its text.
func (c *Client) Status() (shared.Status, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.text
}

// SetStatus sets the user's status and text (empty clears it). Like
// SetFriends, it is sent now if connected and kept for every later hello.
// A text the server would refuse (see shared.CheckStatusText) is an error
// and changes nothing.
func (c *Client) SetStatus(s shared.Status, text string) error {
	if !s.Valid() {
		return ErrBadStatus
	}
	if err := shared.CheckStatusText(text); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loggingOut() {
		return ErrLoggedOut
	}
	c.status, c.text = s, text
	if c.conn == nil {
		return nil
	}
	if err := c.conn.WriteMessage(shared.AppendStatus(nil, s, text)); err != nil {
		return fmt.Errorf("client: send status: %w", err)
	}
	return nil
}

// Logout ends the session: it sends logout if connected, stops
// reconnecting, and makes Run return nil once the server has closed the
// connection (or LogoutTimeout has passed). Calling it again does nothing.
func (c *Client) Logout() error {
	var err error
	c.quitOnce.Do(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		close(c.quit)
		if c.conn == nil {
			return
		}
		if e := c.conn.WriteMessage(shared.AppendLogout(nil)); e != nil {
			err = fmt.Errorf("client: send logout: %w", e)
		}
	})
	return err
}

func (c *Client) loggingOut() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

// Run connects and keeps the session up until ctx is done (it returns
// ctx.Err()), Logout completes (nil), or the server rejects the hello
// (ErrRejected). Between connections it waits with exponential backoff and
// jitter. It closes Events before returning and may be called only once.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(c.events)

	failures := 0
	for attempt := 1; ; attempt++ {
		if c.loggingOut() {
			return nil
		}
		ready, err := c.session(ctx, attempt)
		ev := Event{Kind: EventDisconnected, Attempt: attempt, Err: err}
		if ready {
			// A session that got to ready was a success: the next drop
			// starts the backoff from the bottom again.
			failures, attempt = 0, 0
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case c.loggingOut():
			c.emit(ctx, ev)
			return nil
		case errors.Is(err, ErrRejected):
			c.emit(ctx, ev)
			return err
		}
		failures++
		ev.RetryIn = backoff(failures, c.cfg.MinBackoff, c.cfg.MaxBackoff)
		c.log.Debug("disconnected", "err", err, "retry_in", ev.RetryIn, "attempt", ev.Attempt)
		c.emit(ctx, ev)

		t := time.NewTimer(ev.RetryIn)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-c.quit:
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session runs one connection: dial, hello, read until it ends. ready says
// whether the server got as far as ready, which resets the backoff.
func (c *Client) session(ctx context.Context, attempt int) (ready bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	conn, err := c.cfg.Dial(dctx, c.cfg.Addr)
	cancel()
	if err != nil {
		return false, err
	}

	// The read loop below blocks in ReadMessage; closing the conn is what
	// unblocks it, on cancel or when the server ignores a logout.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { c.closeWhenDone(ctx, conn, done) })
	defer func() {
		close(done)
		wg.Wait()
		conn.Close()
	}()

	if err := c.sendHello(conn); err != nil {
		return false, err
	}
	defer func() {
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
	}()
	c.log.Debug("connected", "attempt", attempt)
	c.emit(ctx, Event{Kind: EventConnected, Attempt: attempt})

	var rejection *Event
	for {
		msg, err := conn.ReadMessage()
		if err != nil {
			if rejection != nil {
				return false, fmt.Errorf("%w: %s: %s", ErrRejected, rejection.Code, rejection.Message)
			}
			return ready, err
		}
		ev := decodeServer(msg)
		switch ev.Kind {
		case EventReady:
			ready = true
		case EventError:
			if !ready && permanent(ev.Code) {
				rejection = &ev
			}
		}
		c.emit(ctx, ev)
	}
}

// sendHello writes the hello with the friend list as it is now, and makes
// conn the one SetFriends and Logout write to, in one critical section.
func (c *Client) sendHello(conn Conn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loggingOut() {
		return ErrLoggedOut
	}
	hello := shared.AppendHelloWith(nil, shared.Hello{UserID: c.cfg.UserID, Friends: nonNil(c.friends), Status: c.status, Text: c.text})
	if err := conn.WriteMessage(hello); err != nil {
		return fmt.Errorf("client: send hello: %w", err)
	}
	c.conn = conn
	return nil
}

func (c *Client) closeWhenDone(ctx context.Context, conn Conn, done <-chan struct{}) {
	select {
	case <-done:
		return
	case <-ctx.Done():
	case <-c.quit:
		t := time.NewTimer(c.cfg.LogoutTimeout)
		defer t.Stop()
		select {
		case <-done:
			return
		case <-ctx.Done():
		case <-t.C:
			c.log.Debug("server did not close after logout")
		}
	}
	conn.Close()
}

// emit delivers ev unless ctx is done, stamping its time.
func (c *Client) emit(ctx context.Context, ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	select {
	case c.events <- ev:
	case <-ctx.Done():
	}
}

// nonNil returns ids, or an empty list for nil: a hello always carries its
// friend list, [] for none.
func nonNil(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}
