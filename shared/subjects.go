package shared

import (
	"errors"
	"strconv"
	"strings"
)

// DefaultPrefix is the subject prefix used when none is configured.
const DefaultPrefix = "alo"

// Subjects spells every NATS subject ALO uses, under one prefix so that
// several ALO deployments can share a NATS cluster.
//
//	<prefix>.events          gateway → presence: batches of session events
//	<prefix>.gw.<gateway>    presence → one gateway: session state, sync requests
//	<prefix>.user.<user_id>  anyone → every session of a user: client messages
//	<prefix>.presence.up     presence → all gateways: "resend your sessions"
//	<prefix>.presence.ping   request/reply: presence answers while it runs
//	<prefix>.claim.gw.<id>   gateway ↔ gateways with that id: "this id is mine"
type Subjects struct {
	prefix string
	user   string // "<prefix>.user." precomputed: it is on the hot path
}

// ErrBadPrefix is returned for a prefix that is not a valid subject token
// sequence.
var ErrBadPrefix = errors.New("shared: subject prefix must be non-empty tokens of letters, digits, '-' or '_' separated by '.'")

// NewSubjects returns the subjects under prefix ("" means DefaultPrefix).
func NewSubjects(prefix string) (Subjects, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	for _, tok := range strings.Split(prefix, ".") {
		if tok == "" || !validToken(tok) {
			return Subjects{}, ErrBadPrefix
		}
	}
	return Subjects{prefix: prefix, user: prefix + ".user."}, nil
}

// MustSubjects is NewSubjects for compile-time constants in tests and
// examples; it panics on a bad prefix.
func MustSubjects(prefix string) Subjects {
	s, err := NewSubjects(prefix)
	if err != nil {
		panic(err)
	}
	return s
}

func validToken(tok string) bool {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// Events is where gateways publish batches of session events.
func (s Subjects) Events() string { return s.prefix + ".events" }

// Gateway is the subject on which one gateway receives session state and
// sync requests from presence.
func (s Subjects) Gateway(id string) string { return s.prefix + ".gw." + id }

// User is the subject that reaches every session of a user, on every gateway.
func (s Subjects) User(id int64) string {
	return string(s.AppendUser(make([]byte, 0, len(s.user)+20), id))
}

// AppendUser appends User(id) to b, for callers that reuse a buffer.
func (s Subjects) AppendUser(b []byte, id int64) []byte {
	return strconv.AppendInt(append(b, s.user...), id, 10)
}

// ParseUser returns the user id of a user subject.
func (s Subjects) ParseUser(subject string) (int64, bool) {
	if !strings.HasPrefix(subject, s.user) {
		return 0, false
	}
	id, err := strconv.ParseInt(subject[len(s.user):], 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

// PresenceUp is where presence announces that it started or reconnected, so
// that every gateway resends its sessions.
func (s Subjects) PresenceUp() string { return s.prefix + ".presence.up" }

// PresencePing answers requests while presence is running; gateways use it
// for readiness.
func (s Subjects) PresencePing() string { return s.prefix + ".presence.ping" }

// GatewayClaim is where a gateway claims its id: it asks there, at start,
// whether another run already uses the id, answers the same question from
// later runs, and repeats its claim, so two gateways started with one id find
// each other.
func (s Subjects) GatewayClaim(id string) string { return s.prefix + ".claim.gw." + id }

// ValidGatewayID reports whether id can be used as a gateway id: it becomes a
// single subject token.
func ValidGatewayID(id string) bool { return id != "" && len(id) <= 64 && validToken(id) }

// Internal reports whether subject is one of ALO's own, under the prefix. A
// reply subject there is forged: answering would publish onto, say, a
// user's subject, and the answer would reach clients.
func (s Subjects) Internal(subject string) bool {
	return subject == s.prefix || strings.HasPrefix(subject, s.prefix+".")
}
