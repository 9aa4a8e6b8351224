package shared

// This file is a stand-in, to be deleted when h/codec is merged: it holds,
// copied from that branch, the subset of its API (status.go, state.go) that
// the status work builds on, so that the two merge by deleting this file.

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// CodeBadStatus: status is not a Status, or text breaks CheckStatusText.
const CodeBadStatus = "bad_status"

// Status is what a user says about their availability (DESIGN §1, §2).
type Status uint8

// The statuses, in the spelling of the wire (Status.String).
const (
	StatusOnline    Status = iota // "online": the default
	StatusAway                    // "away"
	StatusDND                     // "dnd": do not disturb
	StatusInvisible               // "invisible": looks offline to watchers
)

var statusNames = [...]string{
	StatusOnline:    "online",
	StatusAway:      "away",
	StatusDND:       "dnd",
	StatusInvisible: "invisible",
}

// String returns the wire name of s.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is one of the Status constants.
func (s Status) Valid() bool { return int(s) < len(statusNames) }

// ParseStatus returns the Status named name.
func ParseStatus(name string) (Status, bool) {
	switch name {
	case "online":
		return StatusOnline, true
	case "away":
		return StatusAway, true
	case "dnd":
		return StatusDND, true
	case "invisible":
		return StatusInvisible, true
	}
	return 0, false
}

// MarshalText writes the wire name.
func (s Status) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, protoErr(CodeBadStatus, "status "+s.String()+" has no name")
	}
	return []byte(statusNames[s]), nil
}

// UnmarshalText reads a wire name.
func (s *Status) UnmarshalText(b []byte) error {
	v, ok := ParseStatus(string(b))
	if !ok {
		return protoErr(CodeBadStatus, "status must be one of online, away, dnd, invisible")
	}
	*s = v
	return nil
}

// MaxStatusText is the longest status text, in characters.
const MaxStatusText = 128

// CheckStatusText reports whether text may be a status text.
func CheckStatusText(text string) error {
	n := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && size <= 1 {
			return protoErr(CodeBadStatus, "text is not valid UTF-8")
		}
		switch {
		case r < 0x20, r >= 0x7f && r <= 0x9f, r == 0x2028, r == 0x2029,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return protoErr(CodeBadStatus, "text holds a control character")
		}
		if n++; n > MaxStatusText {
			return protoErr(CodeBadStatus, "text is too long")
		}
		i += size
	}
	return nil
}

// Presence is what a state message says about a user beyond their id.
type Presence struct {
	Online   bool
	Status   Status
	Text     string
	LastSeen int64
}

const maxLastSeen = 253402300799

// LastSeenLayout is the time.Parse layout of last_seen.
const LastSeenLayout = "2006-01-02T15:04:05Z"

// AppendPresence appends the state message for user id.
func AppendPresence(b []byte, id int64, p Presence) []byte {
	b = append(b, `{"user_id":`...)
	b = strconv.AppendInt(b, id, 10)
	if !p.Online {
		b = append(b, `,"online":false`...)
		if p.LastSeen > 0 && p.LastSeen <= maxLastSeen {
			b = append(b, `,"last_seen":"`...)
			b = time.Unix(p.LastSeen, 0).UTC().AppendFormat(b, LastSeenLayout)
			b = append(b, '"')
		}
		return append(b, '}')
	}
	b = append(b, `,"online":true`...)
	switch p.Status {
	case StatusAway:
		b = append(b, `,"status":"away"`...)
	case StatusDND:
		b = append(b, `,"status":"dnd"`...)
	}
	if p.Text != "" {
		b = append(b, `,"text":`...)
		b = appendString(b, p.Text)
	}
	return append(b, '}')
}
