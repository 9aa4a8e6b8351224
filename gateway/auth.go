package gateway

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/alo-presence/alo/auth"
	"github.com/alo-presence/alo/friends"
	"github.com/alo-presence/alo/shared"
)

// Identity (DESIGN §7): who a hello says it is, and whose friend list the
// session gets. With Config.Auth nil (--auth none) the hello's user_id is
// trusted; with an Authenticator the hello must carry a token, whose sub is
// the user. A session authenticated by a token ends at its exp (plus
// Config.TokenLeeway) with {"error":"token_expired"} unless the client
// sends a fresh {"token": ...} for the same user first: long-lived
// connections outlive any sensible token lifetime, and a refresh costs one
// message where a reconnect costs a session (watchers would see the user
// leave and come back). A refresh that does not verify, or is for another
// user, ends the session as unauthorized.

// Authenticator verifies a hello's token. *auth.Verifier is one. A refusal
// should be an *auth.Error, whose Code and Message the client is told (any
// other error is reported as unauthorized with a generic message).
type Authenticator interface {
	Verify(token string) (auth.Identity, error)
}

// FriendsMode says where a session's friend list comes from.
type FriendsMode string

// The friend sources of DESIGN §7.
const (
	// FriendsClient: the client's hello and updates (v1).
	FriendsClient FriendsMode = "client"
	// FriendsToken: the token's friends claim (absent: none); the client's
	// lists are refused with friends_managed. Needs Config.Auth.
	FriendsToken FriendsMode = "token"
	// FriendsKV: a store the deployment's backend keeps (Config.FriendStore,
	// a JetStream KV bucket: package friends), looked up at the hello and
	// watched (friends.go); the client's lists are refused with
	// friends_managed.
	FriendsKV FriendsMode = "kv"
)

// ParseFriendsMode reads a --friends value.
func ParseFriendsMode(s string) (FriendsMode, bool) {
	switch m := FriendsMode(s); m {
	case FriendsClient, FriendsToken, FriendsKV:
		return m, true
	}
	return "", false
}

// trusted reports whether friend lists come from somewhere the client does
// not control.
func (m FriendsMode) trusted() bool { return m != FriendsClient }

// identity is what the hello step settles before a session opens.
type identity struct {
	user    int64
	friends []int64   // the session's list, not yet normalized
	managed bool      // the client sent a list the source overrides
	expires time.Time // when the session ends unless refreshed; zero: never
	// looked is the store's list with --friends kv (friends is unused
	// then); the hello is pending until open registers the session.
	looked *friends.Entry
}

// errFriendsManaged answers a client's friend list when lists are trusted.
var errFriendsManaged = &shared.ProtocolError{Code: shared.CodeFriendsManaged,
	Message: "friend lists are managed by the deployment; this list is ignored"}

// unauthorized ends a connection whose identity does not hold.
func unauthorized(msg string) *disconnect {
	return protocolDisconnect(&shared.ProtocolError{Code: shared.CodeUnauthorized, Message: msg})
}

var errTokenRequired = unauthorized(`a token is required: the hello must carry {"token": "<JWT>"}`)

// dcTokenExpired ends a session whose token's exp has passed.
var dcTokenExpired = protocolDisconnect(&shared.ProtocolError{Code: shared.CodeTokenExpired,
	Message: `the session's token has expired: connect again with a fresh token, or send {"token": "<JWT>"} before exp to keep the session`})

// verifyHello is the hello's identity step: with --auth none the hello's
// user_id, checked by validateHello; with an Authenticator, the token's sub
// (user_id, if present, must match it).
func (srv *Server) verifyHello(m *shared.ClientMessage) (identity, *disconnect) {
	if srv.cfg.Auth == nil {
		if pe := validateHello(m); pe != nil {
			return identity{}, protocolDisconnect(pe)
		}
		return identity{user: m.UserID}, nil
	}
	if m.HasOnline && !m.Online {
		return identity{}, protocolDisconnect(&shared.ProtocolError{Code: shared.CodeHelloRequired,
			Message: "logout before hello: there is no session to end"})
	}
	token, ok := helloToken(m)
	if !ok {
		return identity{}, errTokenRequired
	}
	id, d := srv.verifyToken(token)
	if d != nil {
		return identity{}, d
	}
	if m.HasUserID && m.UserID != id.UserID {
		srv.rlog.Info("token user mismatch", "hello refused: user_id is not the token's sub")
		return identity{}, unauthorized("user_id does not match the token's sub; leave user_id out or send the token's")
	}
	return identity{user: id.UserID, friends: id.Friends, expires: id.Expires}, nil
}

// verifyToken checks a token, and turns a refusal into the disconnect the
// client is told. Refusals are logged at most once a second per code: any
// client can cause them.
func (srv *Server) verifyToken(token string) (auth.Identity, *disconnect) {
	id, err := srv.cfg.Auth.Verify(token)
	if err == nil {
		return id, nil
	}
	var ae *auth.Error
	if !errors.As(err, &ae) {
		srv.rlog.Warn("token check failed", "token check failed", "err", err)
		return auth.Identity{}, unauthorized("the token could not be checked")
	}
	srv.rlog.Info("token refused "+ae.Code, "token refused", "code", ae.Code, "err", err)
	return auth.Identity{}, protocolDisconnect(&shared.ProtocolError{Code: ae.Code, Message: ae.Message})
}

// resolveFriends is the hello's friends step: the list the session gets,
// from the source Config.Friends names. A store that cannot be read
// refuses the hello (lookupFriends).
func (srv *Server) resolveFriends(m *shared.ClientMessage, id *identity) *disconnect {
	switch srv.cfg.Friends {
	case FriendsClient:
		id.friends = m.Friends
	case FriendsToken:
		// id.friends is the claim already.
		id.managed = m.HasFriends
	case FriendsKV:
		id.managed = m.HasFriends
		looked, d := srv.lookupFriends(id.user)
		if d != nil {
			return d
		}
		id.looked = looked
	}
	return nil
}

// startExpiry arms the session's expiry timer, when its token has an exp.
// An idle session without one holds no timer.
func (s *session) startExpiry(expires time.Time) {
	if expires.IsZero() {
		return
	}
	deadline := expires.Add(s.srv.cfg.TokenLeeway)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expires = deadline.UnixNano()
	s.expiry = time.AfterFunc(time.Until(deadline), s.expire)
}

// expire ends the session if its deadline has passed; a refresh may have
// moved it since the timer was set.
func (s *session) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry == nil {
		return // the session ended while the timer fired
	}
	if left := time.Until(time.Unix(0, s.expires)); left > 0 {
		s.expiry.Reset(left)
		return
	}
	s.closeLocked(dcTokenExpired)
}

// stopExpiry releases the timer of a session that has ended.
func (s *session) stopExpiry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
}

// refresh handles a {"token": ...} after the hello: it must verify and be
// for the session's user; then the session lasts until the new token's
// exp, and with --friends token takes its friends claim.
func (s *session) refresh(token string) *disconnect {
	srv := s.srv
	id, d := srv.verifyToken(token)
	if d != nil {
		return d
	}
	if id.UserID != s.user {
		srv.rlog.Info("token refresh user mismatch", "token refresh refused: the token is for another user")
		return unauthorized(fmt.Sprintf("the token is for another user than this session's (%d); open a new connection for another user", s.user))
	}
	s.mu.Lock()
	if s.expiry != nil && !id.Expires.IsZero() {
		s.expires = id.Expires.Add(srv.cfg.TokenLeeway).UnixNano()
		s.expiry.Reset(time.Until(time.Unix(0, s.expires)))
	}
	s.mu.Unlock()
	if srv.cfg.Friends == FriendsToken {
		friends := shared.NormalizeFriends(slices.Clone(id.Friends), s.user)
		s.mu.Lock()
		same := slices.Equal(friends, s.friends)
		s.mu.Unlock()
		if !same { // a refresh usually carries the same claim: nothing to tell
			s.setFriends(friends)
		}
	}
	return nil
}
