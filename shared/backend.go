package shared

import (
	"time"

	json "github.com/goccy/go-json"
)

// The presence service's NATS interface for backends and operators
// (docs/OPERATIONS.md): a `nats micro` service named ServiceName, whose
// endpoints take and return the JSON below. Types carry their version in
// their name: a change that is not a compatible addition gets a V2 type and
// a new endpoint, never a new meaning for these.
const (
	// ServiceName is the presence service's name in `nats micro ls`.
	ServiceName = "alo_presence"
	// MaxQueryUsers is the most user ids one query may ask about.
	MaxQueryUsers = 1000
	// MaxKickMessage is the longest kick message, in bytes.
	MaxKickMessage = 256
)

// The error codes of the presence service, in micro's Nats-Service-Error-Code
// header (HTTP-like, as micro's own conventions go).
const (
	ServiceBadRequest  = "400" // not JSON, too many ids, an id that is not positive
	ServiceUnavailable = "503" // busy, rebuilding, or standing by: retry
)

// QueryRequestV1 asks about up to MaxQueryUsers users.
type QueryRequestV1 struct {
	UserIDs []int64 `json:"user_ids"`
}

// QueryResponseV1 answers a QueryRequestV1, one entry per id asked, in order.
type QueryResponseV1 struct {
	Users []UserPresenceV1 `json:"users"`
}

// UserPresenceV1 is one user as presence sees them. Online is what watchers
// see: false for an invisible user. Status and Text are the user's while
// they have a session ("invisible" included: a backend may know it), empty
// otherwise. LastSeen is the last online → offline transition, when known,
// for a user not online. A user presence does not know is offline with no
// sessions.
type UserPresenceV1 struct {
	UserID   int64      `json:"user_id"`
	Online   bool       `json:"online"`
	Status   string     `json:"status,omitempty"`
	Text     string     `json:"text,omitempty"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
	Sessions int        `json:"sessions"`
}

// KickRequestV1 ends every session of a user, on every gateway: each gets
// {"error":"kicked","message":Message} and is closed.
type KickRequestV1 struct {
	UserID  int64  `json:"user_id"`
	Message string `json:"message,omitempty"`
}

// KickResponseV1 says how many sessions, on how many gateways, were told to
// close (0 for a user who was not online).
type KickResponseV1 struct {
	UserID   int64 `json:"user_id"`
	Sessions int   `json:"sessions"`
	Gateways int   `json:"gateways"`
}

// Kick, in a Control message, tells a gateway to end every session of a user
// with the error "kicked".
type Kick struct {
	User    int64  `json:"user_id"`
	Message string `json:"message,omitempty"`
}

// ChangeV1 is one entry of the change feed, on Subjects.Changes(user): a
// user's transition, published once, in order per user.
type ChangeV1 struct {
	UserID int64 `json:"user_id"`
	Online bool  `json:"online"`
	// Status is "online" for an online user, "offline" otherwise.
	Status string `json:"status"`
	// Version increases with each of the user's changes, across presence
	// restarts (docs/OPERATIONS.md says how).
	Version uint64    `json:"version"`
	At      time.Time `json:"at"`
	// Reason is why the user went offline (Reason* below); empty when they
	// came online.
	Reason string `json:"reason,omitempty"`
}

// The reasons of a change to offline, and of a session's close event.
const (
	ReasonLogout      = "logout"       // the client logged out
	ReasonClosed      = "closed"       // the connection closed, or the gateway shut down
	ReasonTimeout     = "timeout"      // the client fell silent (UDP idle, no WebSocket pong, hello deadline)
	ReasonGatewayLost = "gateway_lost" // the gateway's lease ran out, or it restarted
	ReasonKicked      = "kicked"       // a backend kicked the user
	ReasonInvisible   = "invisible"    // the user went invisible
)

// MarshalChange encodes a change for the wire.
func MarshalChange(c *ChangeV1) ([]byte, error) { return json.Marshal(c) }

// UnmarshalChange decodes a change.
func UnmarshalChange(data []byte, c *ChangeV1) error {
	*c = ChangeV1{}
	return json.Unmarshal(data, c)
}
