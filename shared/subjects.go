package shared

import (
	"errors"
	"strconv"
	"strings"
)

// DefaultPrefix is the subject prefix used when none is configured.
const DefaultPrefix = "alo"

// Subjects spells every NATS subject ALO uses, under one prefix so that
// several ALO deployments can share a NATS cluster. Each subject is
// published by one role only, and a gateway publishes only under its own id,
// so that NATS subject permissions can enforce who says what (the table in
// docs/PROTOCOL.md, and deploy/nats.conf):
//
//	<prefix>.events.<gateway> gateway <gateway> → presence: batches of session events
//	<prefix>.gw.<gateway>     presence → one gateway: session state, sync requests
//	<prefix>.user.<user_id>   presence → every session of a user: state messages
//	<prefix>.push.<user_id>   backend → every session of a user: {"push": ...}
//	<prefix>.presence.up      presence → all gateways: "resend your sessions"
//	<prefix>.presence.ping    request/reply: presence answers while it runs
//	<prefix>.claim.gw.<id>    gateway ↔ gateways with that id: "this id is mine"
type Subjects struct {
	prefix string
	// "<prefix>.user.", "<prefix>.push." and "<prefix>.events."
	// precomputed: they are on the hot path.
	user, push, events string
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
	return Subjects{prefix: prefix, user: prefix + ".user.", push: prefix + ".push.", events: prefix + ".events."}, nil
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

// Events is where gateway gw publishes its batches of session events: under
// its own id, so that a NATS permission can restrict each gateway to its
// own, and presence can check a batch's gw against the subject.
func (s Subjects) Events(gw string) string { return s.events + gw }

// AllEvents is what presence subscribes to: every gateway's events.
func (s Subjects) AllEvents() string { return s.events + "*" }

// ParseEvents returns the gateway id an events subject names.
func (s Subjects) ParseEvents(subject string) (string, bool) {
	if !strings.HasPrefix(subject, s.events) {
		return "", false
	}
	gw := subject[len(s.events):]
	return gw, ValidGatewayID(gw)
}

// Gateway is the subject on which one gateway receives session state and
// sync requests from presence.
func (s Subjects) Gateway(id string) string { return s.prefix + ".gw." + id }

// User is the subject on which presence tells every session of a user, on
// every gateway, of a friend's state. Only presence publishes there, and
// gateways forward from it only state messages, re-encoded.
func (s Subjects) User(id int64) string {
	return string(s.AppendUser(make([]byte, 0, len(s.user)+20), id))
}

// AppendUser appends User(id) to b, for callers that reuse a buffer.
func (s Subjects) AppendUser(b []byte, id int64) []byte {
	return strconv.AppendInt(append(b, s.user...), id, 10)
}

// ParseUser returns the user id of a user subject.
func (s Subjects) ParseUser(subject string) (int64, bool) { return parseID(subject, s.user) }

// parseID returns the user id that follows prefix in subject.
func parseID(subject, prefix string) (int64, bool) {
	if !strings.HasPrefix(subject, prefix) {
		return 0, false
	}
	id, err := strconv.ParseInt(subject[len(prefix):], 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

// Push is the subject on which the deployment's backend sends a JSON object
// to every session of a user; clients receive it as {"push": <object>}, so
// nothing sent there can pass for a state message.
func (s Subjects) Push(id int64) string {
	return string(strconv.AppendInt(append(make([]byte, 0, len(s.push)+20), s.push...), id, 10))
}

// ParsePush returns the user id of a push subject.
func (s Subjects) ParsePush(subject string) (int64, bool) {
	return parseID(subject, s.push)
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
