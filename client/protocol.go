package client

import (
	"encoding/json"
	"fmt"

	"github.com/alo-presence/alo/shared"
)

// This file is the only place in the package that spells the wire (DESIGN
// §1). What the server sends is shared.ServerMessage, the one definition of
// it; what the client sends is spelled here.

// hello is the first message of every connection.
type hello struct {
	UserID  int64   `json:"user_id"`
	Friends []int64 `json:"friends"`
}

// friendsUpdate replaces the session's friend list.
type friendsUpdate struct {
	Friends []int64 `json:"friends"`
}

// logout ends the session; the server closes the connection after it.
type logout struct {
	Online bool `json:"online"`
}

func encodeHello(user int64, friends []int64) ([]byte, error) {
	return json.Marshal(hello{UserID: user, Friends: nonNil(friends)})
}

func encodeFriends(friends []int64) ([]byte, error) {
	return json.Marshal(friendsUpdate{Friends: nonNil(friends)})
}

func encodeLogout() ([]byte, error) {
	return json.Marshal(logout{Online: false})
}

// nonNil makes an empty list encode as [] rather than null, which a strict
// server could reject as the wrong type.
func nonNil(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}

// decodeServer turns one server message into an Event. A message it cannot
// classify comes back as EventUnknown with Raw set, never as an error that
// would end the session: servers may add fields and messages.
func decodeServer(data []byte) Event {
	var m shared.ServerMessage
	if err := shared.DecodeServer(data, &m); err != nil {
		return Event{Kind: EventUnknown, Raw: string(data), Err: fmt.Errorf("client: decode server message: %w", err)}
	}
	switch m.Kind() {
	case shared.ServerError:
		return Event{Kind: EventError, Code: m.Error, Message: m.Message}
	case shared.ServerReady:
		return Event{Kind: EventReady, Session: m.Session}
	case shared.ServerState:
		return Event{Kind: EventPresence, UserID: *m.UserID, Online: *m.Online}
	}
	// Includes the seed's bare {"online": true}: it names nobody, so it
	// cannot update a roster.
	return Event{Kind: EventUnknown, Raw: string(data)}
}

// permanent reports whether an error code received before ready means the
// hello itself was refused, so that sending it again cannot succeed. Codes
// about the gateway's condition (shutdown, unavailable, rate_limited,
// hello_timeout) and codes this client does not know are worth a retry.
func permanent(code string) bool {
	switch code {
	case shared.CodeBadJSON, shared.CodeInvalidUTF8, shared.CodeDuplicateKey,
		shared.CodeBadUserID, shared.CodeBadFriends, shared.CodeBadOnline,
		shared.CodeTooManyFriends, shared.CodeTooLong, shared.CodeHelloRequired,
		shared.CodeUserMismatch:
		return true
	}
	return false
}
