package gateway

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/alo-presence/alo/shared"
)

// session is one client session, whatever its transport. The transport's
// reader calls handle for each message. Its writer runs only while there is
// something to write: the session starts it (the function given to open)
// when output is queued, and the writer drains the queue with next, which
// ends it when nothing is left, so an idle session has no writer goroutine.
// When the session closes (close, with the disconnect that says why), the
// writer writes what is queued, the disconnect's error included, closes the
// connection, and calls finish.
type session struct {
	srv  *Server
	id   string
	user int64

	// Reader-only state.
	msg    shared.ClientMessage
	tokens float64
	last   time.Time

	mu sync.Mutex
	// friends is the session's friend list, for resyncs and for the
	// union check over the user's sessions (friendUnionWithinLocked): a
	// registered session's list is written holding srv.mu as well as mu.
	friends []int64
	out     []byte  // queued messages, each ended by '\n'
	ready   bool    // ready was queued; user updates flow from then on
	known   []int64 // friends this session was last told are online, sorted; a subset of friends
	// toldStatus holds the friends of known whose last state told carried
	// a status or text, with them: what a resync reports as KnownStatus.
	toldStatus map[int64]shared.FriendPresence
	// The status the session last set, and when (stampStatus; 0: never).
	status   shared.Status
	text     string
	statusAt int64
	dc       *disconnect // why the session is closing; nil while it is open
	// writing is true while a writer runs, and from the moment a writer
	// sees the session closing, forever: signalLocked starts a writer only
	// when it is false, and only next sets it false, when it tells the
	// writer to end because nothing is left and the session is open. So at
	// most one writer runs at a time (the transport's writer state and the
	// connection's writes need no lock of their own), and no writer starts
	// after the one that closes the connection and calls finish (a second
	// finish would close done twice).
	writing bool
	writer  func()        // the transport's writer
	done    chan struct{} // closed by finish, once the connection is closed
	// expires is when the session's token runs out (Unix ns, with the
	// leeway), and expiry the timer that ends the session then; both zero
	// without a token, so an idle session under --auth none holds no timer.
	expires int64
	expiry  *time.Timer
	// For the latency metrics (metrics.go), monotonic nanoseconds: the
	// hello, the oldest notification queued since the writer last took the
	// queue, and the oldest one in what it is writing.
	openedAt, queuedAt, writingAt int64

	// With a FriendStore (friends.go): the store revision of friends,
	// guarded by mu; and pubMu, which orders the session's open, close and
	// the watcher's updates, with opened and ended under it.
	friendsRev    uint64
	pubMu         sync.Mutex
	opened, ended bool
}

// debug logs at debug level with the session's identity, building nothing
// when debug logs are off.
func (s *session) debug(msg string, args ...any) {
	if log := s.srv.log; log.Enabled(context.Background(), slog.LevelDebug) {
		log.With("user", s.user, "session", s.id).Debug(msg, args...)
	}
}

// handle processes one message from the client after the hello. It returns
// the disconnect that ends the session, if the message ends it.
func (s *session) handle(data []byte) *disconnect {
	if d := s.allow(); d != nil {
		return d
	}
	if len(trimSpace(data)) == 0 {
		s.srv.metrics.msgIn[msgKeepalive].Inc()
		return nil // keep-alive
	}
	m := &s.msg
	if err := shared.DecodeClient(data, m, s.srv.cfg.MaxFriends); err != nil {
		s.srv.metrics.msgIn[msgInvalid].Inc()
		// The framing survives a bad message: say so, and carry on.
		s.sendError(asProtocolError(err))
		return nil
	}
	s.srv.metrics.message(m, false)
	if m.HasUserID && m.UserID != s.user {
		return protocolDisconnect(&shared.ProtocolError{Code: shared.CodeUserMismatch,
			Message: "user_id differs from this session's; open a new connection for another user"})
	}
	if m.HasOnline && !m.Online {
		return dcLogout
	}
	if token, ok := helloToken(m); ok && s.srv.cfg.Auth != nil {
		// With --auth none a token means nothing: the hello was trusted.
		if d := s.refresh(token); d != nil {
			return d
		}
	}
	if m.HasFriends {
		if s.srv.cfg.Friends.trusted() {
			s.sendError(errFriendsManaged)
			return nil
		}
		friends := shared.NormalizeFriends(slices.Clone(m.Friends), s.user)
		if pe := s.srv.updateFriends(s, friends); pe != nil {
			// Not fatal: the session keeps its list and is told why.
			s.sendError(pe)
			return nil
		}
		s.srv.publishEvent(shared.Event{Type: shared.EventUpdate, Session: s.id, User: s.user, Friends: friends})
	}
	if m.HasStatus {
		// DecodeClient checked status and text (bad_status).
		s.srv.publishEvent(s.setStatus(m.Status, string(m.Text)))
	}
	return nil
}

// updateFriends replaces s's friend list, unless the user changes lists too
// often or the union over their sessions would grow past MaxFriendUnion:
// then it returns the refusal and the list stays. The check and the
// assignment share one critical section, so two sessions of a user
// updating at once cannot both pass on the other's old list.
func (srv *Server) updateFriends(s *session, friends []int64) *shared.ProtocolError {
	if err := srv.ulim.FriendUpdate(s.user); err != nil {
		var le *LimitError
		if errors.As(err, &le) {
			return le.Protocol()
		}
		return asProtocolError(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !srv.friendUnionWithinLocked(srv.users[s.user], s, friends) {
		return FriendUnionError(srv.cfg.MaxFriendUnion).Protocol()
	}
	s.assignFriendsLocked(friends)
	return nil
}

// setFriends replaces the session's friend list (normalized) from a
// trusted source, which the per-user limits do not meter, and tells
// presence.
func (s *session) setFriends(friends []int64) {
	s.srv.mu.Lock()
	s.assignFriendsLocked(friends)
	s.srv.mu.Unlock()
	s.srv.publishEvent(shared.Event{Type: shared.EventUpdate, Session: s.id, User: s.user, Friends: friends})
}

// assignFriendsLocked sets the list; srv.mu is held (see session.friends).
func (s *session) assignFriendsLocked(friends []int64) {
	s.mu.Lock()
	s.friends = friends
	s.known = keepFriends(s.known, friends)
	s.mu.Unlock()
}

// allow applies the rate limit: a token bucket refilled at RateLimit per
// second, holding at most RateBurst.
func (s *session) allow() *disconnect {
	now := time.Now()
	cfg := &s.srv.cfg
	s.tokens = min(float64(cfg.RateBurst), s.tokens+now.Sub(s.last).Seconds()*cfg.RateLimit)
	s.last = now
	if s.tokens < 1 {
		return protocolDisconnect(&shared.ProtocolError{Code: shared.CodeRateLimited,
			Message: "more messages than the gateway accepts per second"})
	}
	s.tokens--
	return nil
}

func (s *session) sendError(pe *shared.ProtocolError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked(func(b []byte) []byte { return shared.AppendError(b, pe.Code, pe.Message) })
}

// deliver queues a message from the user's subject. state says whether it is
// a presence state message, which the session's known set follows.
func (s *session) deliver(data []byte, state bool, about int64, online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready || s.dc != nil {
		return
	}
	if state {
		s.known = s.setKnownLocked(about, online)
	}
	s.srv.metrics.queued(s, state)
	s.appendLocked(func(b []byte) []byte { return append(b, data...) })
}

// apply queues a state message from presence: corrections, then ready if the
// session has not had it.
func (s *session) apply(st *shared.SessionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dc != nil {
		return
	}
	for _, id := range st.Online {
		p := st.Presence(id, true)
		s.known = s.setKnownLocked(id, true)
		s.setToldLocked(id, p)
		s.appendLocked(func(b []byte) []byte { return shared.AppendPresence(b, id, p) })
	}
	for _, id := range st.Offline {
		s.known = s.setKnownLocked(id, false)
		s.appendLocked(func(b []byte) []byte { return shared.AppendPresence(b, id, st.Presence(id, false)) })
	}
	if !s.ready {
		s.ready = true
		s.srv.metrics.ready(s)
		s.appendLocked(func(b []byte) []byte { return shared.AppendReady(b, s.id) })
	}
}

// appendLocked queues one message, or closes a session whose queue is full.
func (s *session) appendLocked(add func([]byte) []byte) {
	if s.dc != nil {
		return
	}
	n := len(s.out)
	s.out = append(add(s.out), '\n')
	if len(s.out) > s.srv.cfg.MaxQueueBytes {
		s.out = s.out[:n]
		s.closeLocked(dcSlow)
		return
	}
	s.signalLocked()
}

// close ends the session for the reason d gives: d's error, if any, is
// queued as the last message, nothing is queued after it, and the writer
// closes the connection once it has written what is queued. The first
// disconnect wins.
func (s *session) close(d *disconnect) {
	s.mu.Lock()
	s.closeLocked(d)
	s.mu.Unlock()
}

func (s *session) closeLocked(d *disconnect) {
	if s.dc != nil {
		return
	}
	if d.err != nil && d != dcSlow {
		pe := d.err
		s.appendLocked(func(b []byte) []byte { return shared.AppendError(b, pe.Code, pe.Message) })
		if s.dc != nil {
			return // the error did not fit: closed as slow
		}
	}
	s.dc = d
	if d == dcSlow {
		s.out = nil // the client is not reading: drop what it would not read
	}
	s.signalLocked()
}

// signal starts the writer, for output the transport itself holds (a
// WebSocket ping, say).
func (s *session) signal() {
	s.mu.Lock()
	s.signalLocked()
	s.mu.Unlock()
}

// signalLocked starts the writer unless it is running.
func (s *session) signalLocked() {
	if !s.writing {
		s.writing = true
		s.srv.wg.Go(s.writer)
	}
}

// next returns what is queued (swapping in buf, emptied) and whether the
// session is closing. When there is neither, and pending (if given) reports
// nothing the transport holds, the writer must end: next returns more =
// false, and the next output starts a new one.
func (s *session) next(buf []byte, pending func() bool) (out []byte, closing, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out = s.out
	s.out = buf[:0]
	if s.dc == dcSlow {
		out = out[:0]
	}
	s.srv.metrics.handed(s, len(out))
	if len(out) == 0 && s.dc == nil && (pending == nil || !pending()) {
		s.writing = false
		s.out = nil // an idle session holds no buffer
		return nil, false, false
	}
	return out, s.dc != nil, true
}

// finish is the writer's last act, once the connection is closed.
func (s *session) finish() { close(s.done) }

// closedBy returns why a closing session closes (nil while it is open).
func (s *session) closedBy() *disconnect {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dc
}

// view returns what a resync needs: friends, known, ready.
func (s *session) view() ([]int64, []int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.friends, slices.Clone(s.known), s.ready
}

// setKnownLocked records what the session was told about id. Only the
// session's friends are recorded: anyone may publish a state message to a
// user's subject, and known travels in every resync, so a forged flood must
// not grow it (it once made a resync too big to publish). Such messages are
// still forwarded, as the protocol lets anyone reach a user's sessions, and a
// user's watch list is the union of the lists of all their sessions, here or
// on other gateways, so presence may legitimately send a session the state of
// a friend of its user's other session. Not recording those costs, at worst,
// a harmless repeat in the corrections after a resync.
func (s *session) setKnownLocked(id int64, online bool) []int64 {
	delete(s.toldStatus, id) // a plain state; setToldLocked records others
	if online && !shared.Contains(s.friends, id) {
		return s.known
	}
	return setKnown(s.known, id, online)
}

// keepFriends removes from known, in place, whoever friends no longer holds:
// after a friend-list update, known stays a subset of the list.
func keepFriends(known, friends []int64) []int64 {
	return slices.DeleteFunc(known, func(id int64) bool { return !shared.Contains(friends, id) })
}

// setKnown adds id to or removes it from the sorted set known.
func setKnown(known []int64, id int64, online bool) []int64 {
	i, found := slices.BinarySearch(known, id)
	switch {
	case online && !found:
		return slices.Insert(known, i, id)
	case !online && found:
		return slices.Delete(known, i, i+1)
	}
	return known
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
