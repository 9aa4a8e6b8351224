package gateway

import (
	"fmt"

	"github.com/nats-io/nats.go"
)

// userEntry is one user's sessions on this gateway and the subscriptions
// that feed them: the user's subject (state messages from presence) and its
// push subject (the backend's messages).
type userEntry struct {
	sub, push *nats.Subscription
	sessions  []*session
}

// addLocked registers s, subscribing to its user's subjects if it is the
// user's first session here. The subscriptions are made before the open
// event is published, so no notification for the user can slip past.
func (srv *Server) addLocked(s *session) error {
	if srv.state != stateServing {
		return errClosing
	}
	e := srv.users[s.user]
	// Per-user limits before anything is subscribed or published: a
	// refused session costs presence nothing.
	if err := srv.ulim.Open(s.user, len(s.friends) > 0); err != nil {
		return err
	}
	if !srv.friendUnionWithinLocked(e, nil, s.friends) {
		srv.ulim.Close(s.user)
		return FriendUnionError(srv.cfg.MaxFriendUnion)
	}
	if e == nil {
		sub, err := srv.nc.ChanSubscribe(srv.subjects.User(s.user), srv.inbox)
		if err != nil {
			srv.ulim.Close(s.user)
			return fmt.Errorf("gateway: subscribe: %w", err)
		}
		push, err := srv.nc.ChanSubscribe(srv.subjects.Push(s.user), srv.inbox)
		if err != nil {
			_ = sub.Unsubscribe()
			return fmt.Errorf("gateway: subscribe: %w", err)
		}
		e = &userEntry{sub: sub, push: push}
		srv.users[s.user] = e
	}
	e.sessions = append(e.sessions, s)
	srv.sessions[s.id] = s
	return nil
}

// removeLocked unregisters s, and unsubscribes when it was its user's last
// session here. It reports whether s was registered.
func (srv *Server) removeLocked(s *session) bool {
	if srv.sessions[s.id] != s {
		return false
	}
	delete(srv.sessions, s.id)
	e := srv.users[s.user]
	for i, x := range e.sessions {
		if x == s {
			e.sessions[i] = e.sessions[len(e.sessions)-1]
			e.sessions[len(e.sessions)-1] = nil
			e.sessions = e.sessions[:len(e.sessions)-1]
			break
		}
	}
	if len(e.sessions) == 0 {
		// An error here means the connection is closed, which drops the
		// subscription anyway.
		_ = e.sub.Unsubscribe()
		_ = e.push.Unsubscribe()
		delete(srv.users, s.user)
	}
	srv.ulim.Close(s.user)
	return true
}

// friendUnionWithinLocked reports whether the user of entry e (nil: no
// session yet) would keep the union of their sessions' friend lists within
// MaxFriendUnion if session except (nil for a new session) had the list
// friends. Every write of a registered session's friends holds srv.mu, so
// reading them here is safe. Cost: at most sessions × (MaxFriendUnion+1)
// steps, bounded by the per-user session cap.
func (srv *Server) friendUnionWithinLocked(e *userEntry, except *session, friends []int64) bool {
	if e == nil || srv.cfg.MaxFriendUnion < 0 {
		return true
	}
	var stack [DefaultMaxSessionsPerUser + 1][]int64
	lists := stack[:0]
	for _, x := range e.sessions {
		if x != except {
			lists = append(lists, x.friends)
		}
	}
	return FriendUnionWithin(append(lists, friends), srv.cfg.MaxFriendUnion)
}
