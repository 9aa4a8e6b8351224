package shared

import (
	"cmp"
	"errors"
	"slices"
	"time"

	json "github.com/goccy/go-json"
)

// EventType names what happened to a session. The strings are the wire form.
type EventType string

// The session events a gateway publishes, in the order it saw them.
const (
	// EventOpen registers a session (idempotent: a repeat for the same session
	// updates its friend list).
	EventOpen EventType = "open"
	// EventUpdate replaces the friend list of the session's user.
	EventUpdate EventType = "update"
	// EventClose ends a session; closing an unknown session does nothing.
	EventClose EventType = "close"
	// EventHeartbeat renews the gateway's lease and states the size and digest
	// of its session set, so presence can tell when it missed an event.
	EventHeartbeat EventType = "heartbeat"
	// EventSyncBegin starts a full resend of the gateway's sessions.
	EventSyncBegin EventType = "sync_begin"
	// EventSyncEnd ends a resend: sessions not repeated since the matching
	// EventSyncBegin are gone.
	EventSyncEnd EventType = "sync_end"
	// EventStatus sets the status and text of the session's user, as set
	// by that session at StatusAt (DESIGN §2: the user's status is the one
	// set last by any of their open sessions).
	EventStatus EventType = "status"
	// EventBye says the gateway is shutting down cleanly, after closing its
	// sessions.
	EventBye EventType = "bye"
)

// Batch is the payload of an Events message: one gateway's events in order.
type Batch struct {
	Gateway string  `json:"gw"`
	Boot    string  `json:"boot"` // changes each time the gateway process starts
	Events  []Event `json:"events"`
}

// Event is one session event. Which fields are set depends on Type.
type Event struct {
	Type    EventType `json:"type"`
	Session string    `json:"sid,omitempty"`
	User    int64     `json:"user_id,omitempty"`
	// Friends is the friend list for open and update (sorted, no duplicates,
	// no self).
	Friends []int64 `json:"friends,omitempty"`
	// Known is, in a sync, the friends the session was last told are online,
	// so presence can send exactly the corrections it needs.
	Known []int64 `json:"known,omitempty"`
	// KnownStatus is, in a sync, the friends of Known whose last state the
	// session was told carried a status or text, with them (LastSeen
	// unused), sorted by user id, so presence can correct a status that
	// changed while it could not tell anyone.
	KnownStatus []FriendPresence `json:"known_status,omitempty"`
	// Ready is, in a sync, whether the session was already sent ready.
	Ready bool `json:"ready,omitempty"`
	// Sync marks an open that belongs to a resend.
	Sync bool `json:"sync,omitempty"`
	// Gen ties sync_begin, the resent opens and sync_end together.
	Gen uint64 `json:"gen,omitempty"`
	// Sessions and Digest describe the gateway's session set in a heartbeat.
	Sessions int    `json:"sessions,omitempty"`
	Digest   uint64 `json:"digest,omitempty"`
	// Reason is, on a close, why the session ended (Reason* in backend.go),
	// for the change feed.
	Reason string `json:"reason,omitempty"`
	// Status, Text and StatusAt are, in status and in open (hello or
	// resync), the status the session last set and when: Unix nanoseconds
	// on its gateway's clock, 0 if the session never set one (then Status
	// and Text are empty). Presence takes, for each user, the status of
	// the open session that set one last by StatusAt, so any resend order
	// rebuilds the same status.
	Status   Status `json:"status,omitempty"`
	Text     string `json:"text,omitempty"`
	StatusAt int64  `json:"status_at,omitempty"`
}

// Control is the payload of a Gateway message.
type Control struct {
	// Sync asks the gateway to resend all its sessions.
	Sync bool `json:"sync,omitempty"`
	// Sessions carries state for individual sessions, in order.
	Sessions []SessionState `json:"sessions,omitempty"`
	// Kicks ends every session of each user listed (shared/backend.go).
	Kicks []Kick `json:"kicks,omitempty"`
}

// SessionState tells a gateway what one session must be told: friends online,
// friends offline, and (implicitly) that presence has registered it, so the
// gateway sends ready if it has not yet.
type SessionState struct {
	Session string  `json:"sid"`
	Online  []int64 `json:"online,omitempty"`
	Offline []int64 `json:"offline,omitempty"`
	// Rich is, for the ids of Online and Offline whose state message has
	// more than online (a status, a text, a last seen), that more, sorted
	// by user id. An id without an entry is plain.
	Rich []FriendPresence `json:"rich,omitempty"`
}

// FriendPresence is what a SessionState says of one friend beyond online.
type FriendPresence struct {
	User     int64  `json:"user_id"`
	Status   Status `json:"status,omitempty"`
	Text     string `json:"text,omitempty"`
	LastSeen int64  `json:"last_seen,omitempty"` // Unix seconds
}

// Presence returns the state message's fields for friend id, online or not.
func (st *SessionState) Presence(id int64, online bool) Presence {
	p := Presence{Online: online}
	i, found := slices.BinarySearchFunc(st.Rich, id, func(f FriendPresence, id int64) int { return cmp.Compare(f.User, id) })
	if found {
		f := &st.Rich[i]
		if online {
			p.Status, p.Text = f.Status, f.Text
		} else {
			p.LastSeen = f.LastSeen
		}
	}
	return p
}

// MarshalBatch encodes a batch for the wire.
func MarshalBatch(b *Batch) ([]byte, error) { return json.Marshal(b) }

// UnmarshalBatch decodes a batch from the wire into b, reusing its event
// slice. Reused events are zeroed first: the decoder leaves fields that a
// message omits as they were.
func UnmarshalBatch(data []byte, b *Batch) error {
	events := b.Events[:cap(b.Events)]
	clear(events)
	*b = Batch{Events: events[:0]}
	return json.Unmarshal(data, b)
}

// MarshalControl encodes a control message for the wire.
func MarshalControl(c *Control) ([]byte, error) { return json.Marshal(c) }

// UnmarshalControl decodes a control message from the wire into c, reusing
// its slice, zeroed first like UnmarshalBatch's.
func UnmarshalControl(data []byte, c *Control) error {
	sessions := c.Sessions[:cap(c.Sessions)]
	clear(sessions)
	*c = Control{Sessions: sessions[:0], Kicks: c.Kicks[:0]}
	return json.Unmarshal(data, c)
}

// SessionHash is a session's contribution to a gateway's digest: the 64-bit
// FNV-1a hash of its id followed by its sorted friend ids (8 bytes each, big
// endian). Digests are the XOR of the hashes of the sessions in a set, so
// both sides can update them one event at a time, and a lost open, close or
// friend-list update all show.
func SessionHash(session string, friends []int64) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < len(session); i++ {
		h = (h ^ uint64(session[i])) * prime
	}
	for _, f := range friends {
		for shift := 56; shift >= 0; shift -= 8 {
			h = (h ^ uint64(byte(f>>shift))) * prime
		}
	}
	return h
}

// StatusHash is a session's status's contribution to its gateway's digest,
// XORed with its SessionHash: 0 for a session that never set a status, so a
// v1 session's part is unchanged, and otherwise the FNV-1a hash of the
// session id, the status name, the text and the time it was set, so a lost
// status event shows as a lost update does.
func StatusHash(session string, status Status, text string, at int64) uint64 {
	if at == 0 {
		return 0
	}
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
		h = (h ^ 0xff) * prime // a separator no UTF-8 string holds
	}
	add("status")
	add(session)
	add(status.String())
	add(text)
	for shift := 56; shift >= 0; shift -= 8 {
		h = (h ^ uint64(byte(at>>shift))) * prime
	}
	return h
}

// NormalizeFriends sorts ids, drops duplicates and self, in place, and
// returns the shortened slice.
func NormalizeFriends(ids []int64, self int64) []int64 {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if i, found := slices.BinarySearch(ids, self); found {
		ids = slices.Delete(ids, i, i+1)
	}
	return ids
}

// Contains reports whether sorted holds id.
func Contains(sorted []int64, id int64) bool {
	_, found := slices.BinarySearch(sorted, id)
	return found
}

// SessionSet is the set of sessions a gateway has announced, kept the way its
// heartbeats describe it. Apply each event as it is published; Heartbeat
// states the count and digest that presence should hold too.
type SessionSet struct {
	hashes map[string]sessionHashes
	digest uint64
}

// sessionHashes are a session's two parts of the digest: its friend list's
// and its status's.
type sessionHashes struct{ friends, status uint64 }

// Apply records an open (not one of a resync, which announces nothing new),
// update, status or close.
func (s *SessionSet) Apply(ev *Event) {
	if s.hashes == nil {
		s.hashes = make(map[string]sessionHashes)
	}
	old, known := s.hashes[ev.Session]
	h := old
	switch {
	case ev.Type == EventOpen && !ev.Sync:
		h = sessionHashes{SessionHash(ev.Session, ev.Friends), StatusHash(ev.Session, ev.Status, ev.Text, ev.StatusAt)}
	case ev.Type == EventUpdate:
		h.friends = SessionHash(ev.Session, ev.Friends)
	case ev.Type == EventStatus && known:
		h.status = StatusHash(ev.Session, ev.Status, ev.Text, ev.StatusAt)
	case ev.Type == EventClose:
		s.digest ^= old.friends ^ old.status
		delete(s.hashes, ev.Session)
		return
	default:
		return
	}
	s.digest ^= old.friends ^ old.status ^ h.friends ^ h.status
	s.hashes[ev.Session] = h
}

// Heartbeat returns the heartbeat event for the set.
func (s *SessionSet) Heartbeat() Event {
	return Event{Type: EventHeartbeat, Sessions: len(s.hashes), Digest: s.digest}
}

// MarshalEvent encodes one event as it appears in a batch's events array.
func MarshalEvent(ev *Event) ([]byte, error) { return json.Marshal(ev) }

// BatchWriter assembles the payload of an Events message from events encoded
// one at a time with MarshalEvent, so that a publisher can cut batches by
// their real size, never by an estimate: what Bytes returns decodes with
// UnmarshalBatch exactly as MarshalBatch's encoding of the same batch does.
type BatchWriter struct {
	head int // length of `{"gw":...,"boot":...,"events":[`
	buf  []byte
	n    int
}

// NewBatchWriter returns an empty writer for batches of one gateway's run.
func NewBatchWriter(gateway, boot string) (*BatchWriter, error) {
	empty, err := MarshalBatch(&Batch{Gateway: gateway, Boot: boot, Events: []Event{}})
	if err != nil {
		return nil, err
	}
	// empty ends with `[]}`: keep everything up to and including the '['.
	head := len(empty) - len("]}")
	return &BatchWriter{head: head, buf: empty[:head:head]}, nil
}

// Events returns how many events the writer holds.
func (w *BatchWriter) Events() int { return w.n }

// SizeWith returns the size of the payload if an encoded event of n bytes
// were added and the batch finished.
func (w *BatchWriter) SizeWith(n int) int {
	if w.n > 0 {
		n++ // the comma
	}
	return len(w.buf) + n + len("]}")
}

// Add appends an encoded event.
func (w *BatchWriter) Add(ev []byte) {
	if w.n > 0 {
		w.buf = append(w.buf, ',')
	}
	w.buf = append(w.buf, ev...)
	w.n++
}

// Bytes finishes the batch and returns its payload, valid until the next
// call of Add or Reset.
func (w *BatchWriter) Bytes() []byte {
	b := append(w.buf, "]}"...)
	w.buf = b[:len(b)-len("]}")]
	return b
}

// Reset empties the writer, keeping its buffer.
func (w *BatchWriter) Reset() {
	w.buf = w.buf[:w.head]
	w.n = 0
}

// GatewayClaim is the payload of a GatewayClaim message: one run of a gateway
// saying that it uses its id, so that a second gateway started with the same
// id can tell, and stand down, instead of both publishing under it.
type GatewayClaim struct {
	Gateway string    `json:"gw"`
	Boot    string    `json:"boot"`
	Started time.Time `json:"started"`
	// Serving is set once the claim holds: the run checked that no other
	// run claims the id, and it serves sessions under it.
	Serving bool `json:"serving,omitempty"`
}

// MarshalGatewayClaim encodes a claim for the wire.
func MarshalGatewayClaim(c *GatewayClaim) ([]byte, error) { return json.Marshal(c) }

// UnmarshalGatewayClaim decodes a claim from the wire.
func UnmarshalGatewayClaim(data []byte, c *GatewayClaim) error {
	*c = GatewayClaim{}
	return json.Unmarshal(data, c)
}

// ControlBuilder builds a Control message of session states piece by piece,
// so that a sender can cut its messages by their real encoded size (the
// NATS payload limit) rather than by an estimate. The zero value is empty
// and ready to use.
type ControlBuilder struct {
	buf []byte
	n   int // session states added
}

// controlHead and controlTail frame the encoded session states: the bytes
// MarshalControl would write for a Control holding only Sessions.
const (
	controlHead = `{"sessions":[`
	controlTail = `]}`
)

// EncodeSessionState returns st encoded as Add takes it.
func EncodeSessionState(st *SessionState) ([]byte, error) { return json.Marshal(st) }

// Len returns how many session states were added since the last Reset.
func (b *ControlBuilder) Len() int { return b.n }

// SizeWith returns the size of the finished message if a session state
// encoded as enc were added now.
func (b *ControlBuilder) SizeWith(enc []byte) int {
	if b.n == 0 {
		return len(controlHead) + len(enc) + len(controlTail)
	}
	return len(b.buf) + 1 + len(enc) + len(controlTail)
}

// Add appends a session state encoded by EncodeSessionState.
func (b *ControlBuilder) Add(enc []byte) {
	if b.n == 0 {
		b.buf = append(b.buf[:0], controlHead...)
	} else {
		b.buf = append(b.buf, ',')
	}
	b.buf = append(b.buf, enc...)
	b.n++
}

// Finish returns the message, valid until the next Add or Reset, and empties
// the builder.
func (b *ControlBuilder) Finish() []byte {
	if b.n == 0 {
		return nil
	}
	b.buf = append(b.buf, controlTail...)
	b.n = 0
	return b.buf
}

// Announcement is the payload of a PresenceUp message: which presence
// instance announces itself, and when it started. Gateways treat any message
// there as "resend your sessions" and ignore the payload (an empty one, from
// an older presence, means the same); presences use it to find each other,
// since two on one prefix would double every notification.
type Announcement struct {
	Instance string    `json:"instance"`
	Started  time.Time `json:"started"`
}

// Precedes reports whether a is the established one of two presences: the
// earlier start, ties broken by the smaller instance id. Both sides compute
// the same answer from the same two announcements.
func (a Announcement) Precedes(b Announcement) bool {
	if !a.Started.Equal(b.Started) {
		return a.Started.Before(b.Started)
	}
	return a.Instance < b.Instance
}

// MarshalAnnouncement encodes an announcement for the wire.
func MarshalAnnouncement(a *Announcement) ([]byte, error) { return json.Marshal(a) }

// UnmarshalAnnouncement decodes an announcement; an empty instance id is an
// error, so an empty or foreign payload is never taken for a presence.
func UnmarshalAnnouncement(data []byte, a *Announcement) error {
	*a = Announcement{}
	if err := json.Unmarshal(data, a); err != nil {
		return err
	}
	if a.Instance == "" {
		return ErrNoInstance
	}
	return nil
}

// ErrNoInstance is returned for an announcement without an instance id.
var ErrNoInstance = errors.New("shared: announcement without an instance id")
