package client

import (
	"fmt"
	"time"

	"github.com/alo-presence/alo/shared"
)

// This file is where the package meets the wire (DESIGN §1), which only
// shared spells: the client's messages are the shared Append functions, what
// the server sends is shared.ServerMessage.

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
		p := m.Presence()
		ev := Event{Kind: EventPresence, UserID: *m.UserID, Online: p.Online, Status: p.Status, Text: p.Text}
		if p.LastSeen != 0 {
			ev.LastSeen = time.Unix(p.LastSeen, 0).UTC()
		}
		return ev
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
		shared.CodeUserMismatch, shared.CodeBadStatus:
		return true
	}
	return false
}
