package gateway

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/alo-presence/alo/friends"
	"github.com/alo-presence/alo/shared"
)

// Trusted friend lists from a store the deployment's backend writes
// (--friends kv, DESIGN §7; the plan is friends/WIRING.md). A list from the
// store enters the system exactly as a client's does: as the hello's list
// (looked up before the session opens) and as friend-list updates (the
// store's watcher, one per gateway). Presence needs nothing new: it sees
// open and update events, tells newly added friends' states, and under
// mutual tells a dropped watcher offline; the heartbeat digests follow the
// events. A client's own friends are refused with friends_managed, not
// fatal, and ignored (auth.go's errFriendsManaged, as for --friends token).
//
// Ordering. A hello's lookup and a change of the same user can pass each
// other, so every list carries its store revision and a session applies
// only what is newer than what it holds (session.friendsRev); friends.Pending
// catches a change delivered while a hello is between its lookup and its
// registration. The watcher publishes for sessions from its own
// goroutine, so the session's events (open, the watcher's updates, close)
// go out under session.pubMu, which the publisher never takes: an update
// cannot reach presence before the session's open or after its close, and
// a watcher blocked on a full event queue holds up nobody the publisher
// waits for. Locks nest pubMu, then srv.mu, then session.mu.

// FriendStore is a trusted source of friend lists: the gateway looks a
// user's list up at each hello and watches the store for changes.
// *friends.Source (a JetStream KV bucket) is one. Lookup must return
// Friends normalized (sorted, no duplicates, not the user) and bounded by
// MaxFriends; the gateway shares the slice between sessions and never
// changes it.
type FriendStore interface {
	Lookup(ctx context.Context, user int64) (friends.Entry, error)
	Watch(ctx context.Context, h friends.Handler) error
}

// Lookups wait at most this long: the hello's, and each of a resync's. A
// store that does not answer in it is down, and waiting longer would only
// hold the connection (or, for UDP, the reader) longer.
const friendsLookupTimeout = 2 * time.Second

// errFriendsUnavailable is why a hello is refused when its list cannot be
// read: admitting the user with no friends would show them a wrong, empty
// world until the next change of their list.
var errFriendsUnavailable = errors.New("gateway: the friend lists cannot be read")

// startFriends starts the store's watcher, when there is a store, and
// returns the function that stops it and waits for it. Serve calls the
// latter after shutdown and before the publisher stops: a change being
// applied may wait for the publisher to take its update.
func (srv *Server) startFriends(ctx context.Context) (stop func()) {
	if srv.cfg.FriendStore == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	srv.friendsCtx = ctx // hellos' lookups end with the watcher
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := srv.cfg.FriendStore.Watch(ctx, friends.Handler{Change: srv.friendsChanged, Resync: srv.friendsResync})
		if err != nil {
			srv.log.Error("friends watch failed: changes of friend lists no longer reach sessions", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// lookupFriends is the hello's friends step with a store: the user's list
// now. On success the hello is pending (srv.pending) until open ends it
// under srv.mu. A store that cannot be read refuses the hello.
func (srv *Server) lookupFriends(user int64) (*friends.Entry, *disconnect) {
	if !srv.nc.IsConnected() {
		// The store is behind NATS: fail at once rather than after the
		// timeout (a UDP hello holds the UDP reader meanwhile).
		srv.rlog.Warn("friends lookup skipped", "hello refused: NATS is disconnected, friend lists cannot be read", "user", user)
		return nil, unavailable(errFriendsUnavailable)
	}
	srv.pending.Begin(user)
	ctx, cancel := context.WithTimeout(srv.friendsCtx, friendsLookupTimeout)
	e, err := srv.cfg.FriendStore.Lookup(ctx, user)
	cancel()
	if err != nil {
		srv.pending.End(friends.Entry{User: user})
		srv.rlog.Warn("friends lookup failed", "hello refused: the friend list could not be read", "user", user, "err", err)
		return nil, unavailable(errFriendsUnavailable)
	}
	return &e, nil
}

// trustLocked ends a pending hello's lookup, under srv.mu and together with
// registering s (ok: addLocked succeeded), so that a change the watcher
// delivers from now on finds the session, and one delivered before is the
// list it starts with if newer than the lookup. Without a lookup it does
// nothing.
func (srv *Server) trustLocked(s *session, looked *friends.Entry, ok bool) {
	if looked == nil {
		return
	}
	e := srv.pending.End(*looked)
	if !ok {
		return
	}
	s.mu.Lock()
	s.friends, s.friendsRev = e.Friends, e.Revision
	s.mu.Unlock()
}

// abandonLookup ends a pending hello that does not reach registration.
func (srv *Server) abandonLookup(looked *friends.Entry) {
	if looked != nil {
		srv.pending.End(*looked)
	}
}

// friendsChanged applies a change of the store to the user's sessions here.
// The watcher calls it, one change at a time, in the store's order.
func (srv *Server) friendsChanged(e friends.Entry) {
	srv.pending.Change(e) // a hello of e.User may be between its lookup and registration
	srv.mu.RLock()
	var sessions []*session
	if u := srv.users[e.User]; u != nil {
		sessions = slices.Clone(u.sessions)
	}
	srv.mu.RUnlock()
	for _, s := range sessions {
		s.setTrustedFriends(e)
	}
}

// friendsResync looks up again the users this gateway holds, and those
// with a hello between lookup and registration: a watch was (re)made, and
// changes made before it may not have been delivered. A pending hello's
// lookup may have read the store before such a change, so it is looked up
// too; the result reaches it through srv.pending. It runs in the watcher's
// goroutine, so no change is applied meanwhile; its cost is one lookup per
// user held, once per watch.
func (srv *Server) friendsResync(ctx context.Context) {
	srv.mu.RLock()
	users := make([]int64, 0, len(srv.users))
	for u := range srv.users {
		users = append(users, u)
	}
	srv.mu.RUnlock()
	users = srv.pending.Users(users)
	for _, u := range users {
		lctx, cancel := context.WithTimeout(ctx, friendsLookupTimeout)
		e, err := srv.cfg.FriendStore.Lookup(lctx, u)
		cancel()
		if err != nil {
			// NATS is down again: the next watch resyncs again.
			srv.rlog.Warn("friends resync failed", "friend lists could not be looked up again; retrying with the next watch",
				"users", len(users), "err", err)
			return
		}
		srv.friendsChanged(e)
	}
	if len(users) > 0 {
		srv.log.Info("friend lists looked up again", "users", len(users))
	}
}

// setTrustedFriends replaces the session's list with e's if e is newer than
// what it holds, and tells presence exactly as a client's {"friends": [...]}
// does, once the session's open has been published and until its close.
func (s *session) setTrustedFriends(e friends.Entry) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	// srv.mu too: the union check over a user's sessions reads their
	// lists under it (see session.friends).
	s.srv.mu.Lock()
	s.mu.Lock()
	newer := e.Revision > s.friendsRev
	if newer {
		s.friends, s.friendsRev = e.Friends, e.Revision
		s.known = keepFriends(s.known, e.Friends)
	}
	s.mu.Unlock()
	s.srv.mu.Unlock()
	if !newer {
		return // a lookup or change at least as new is applied already
	}
	if s.opened && !s.ended {
		s.srv.publishEvent(shared.Event{Type: shared.EventUpdate, Session: s.id, User: s.user, Friends: e.Friends})
	}
	s.debug("friends from the store", "friends", len(e.Friends), "revision", e.Revision)
}

// publishOpen tells presence the session opened, with its list as it is
// now (a change applied since registration included) and the hello's
// status if it has one, and returns the list's length.
func (s *session) publishOpen(status *helloStatus) int {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	friends := s.friends
	s.mu.Unlock()
	ev := shared.Event{Type: shared.EventOpen, Session: s.id, User: s.user, Friends: friends}
	if status != nil {
		// The hello's status: the session's from its start.
		st := s.setStatus(status.status, status.text)
		ev.Status, ev.Text, ev.StatusAt = st.Status, st.Text, st.StatusAt
	}
	s.opened = true
	s.srv.publishEvent(ev)
	return len(friends)
}

// publishClose tells presence the session ended; nothing is published for
// it afterwards.
func (s *session) publishClose() {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.ended = true
	s.srv.publishEvent(shared.Event{Type: shared.EventClose, Session: s.id, User: s.user, Reason: feedReason(s.closedBy())})
}
