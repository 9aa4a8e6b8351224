package shared

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Presence is what a state message says about a user beyond their id: what
// presence tells watchers and the gateway re-encodes for them.
type Presence struct {
	// Online is the user's visible state: false for an invisible user, so
	// that watchers cannot tell invisible from offline (DESIGN §2).
	Online bool
	// Status and Text are written only when Online. Only StatusAway and
	// StatusDND are written: StatusOnline is the plain state, and
	// StatusInvisible must never reach a watcher (pass Online false).
	Status Status
	Text   string
	// LastSeen is the user's last online → offline transition in Unix
	// seconds (UTC), 0 when unknown; written only when !Online, and only
	// when it is in the years 1970–9999 that RFC 3339 can spell.
	LastSeen int64
}

// maxLastSeen is 9999-12-31T23:59:59Z, the last second RFC 3339 can spell.
const maxLastSeen = 253402300799

// LastSeenLayout is the time.Parse layout of last_seen: RFC 3339 in UTC to
// the second, always with Z, e.g. 2026-12-02T17:04:05Z. Seconds because the
// moment a user left needs no more, and one spelling per instant lets a
// client compare strings.
const LastSeenLayout = "2006-01-02T15:04:05Z"

// AppendPresence appends the state message for user id, with the optional
// fields of p that apply:
//
//	{"user_id":2,"online":true,"status":"away","text":"in a meeting"}
//	{"user_id":2,"online":false,"last_seen":"2026-12-02T17:04:05Z"}
//
// in that order, so that for a plain Presence (online with no status or
// text, or offline with no last seen) it writes exactly what AppendState
// writes, and v1 clients see what they always did. Text is written as given
// (escaped for JSON): callers pass text that CheckStatusText accepts.
func AppendPresence(b []byte, id int64, p Presence) []byte {
	b = append(b, `{"user_id":`...)
	b = strconv.AppendInt(b, id, 10)
	if !p.Online {
		b = append(b, `,"online":false`...)
		if p.LastSeen > 0 && p.LastSeen <= maxLastSeen {
			b = append(b, `,"last_seen":"`...)
			b = appendLastSeen(b, p.LastSeen)
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

// appendLastSeen appends unix (0 < unix ≤ maxLastSeen) in LastSeenLayout,
// by hand: time.AppendFormat is several times slower.
func appendLastSeen(b []byte, unix int64) []byte {
	t := time.Unix(unix, 0).UTC()
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-')
	b = append2(b, int(month), '-')
	b = append2(b, day, 'T')
	b = append2(b, hour, ':')
	b = append2(b, min, ':')
	return append2(b, sec, 'Z')
}

func append2(b []byte, v int, sep byte) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10), sep)
}

// ErrBadState is returned (wrapped, with the reason) by DecodeState for a
// message that is not a state message exactly as AppendPresence writes it.
var ErrBadState = errors.New("shared: not a state message as presence writes it")

// DecodeState decodes a state message that arrived from the bus, for the
// gateway to re-encode with AppendPresence rather than forward bytes it
// does not control. It is strict: only what AppendPresence writes is
// accepted, byte for byte in its field order and without spaces; user_id
// positive, status only away or dnd and only when online, text non-empty
// and passing CheckStatusText and only when online, last_seen in
// LastSeenLayout and only when offline; nothing else, nothing after. A
// plain state does not allocate; a text costs one string.
func DecodeState(data []byte) (int64, Presence, error) {
	var p Presence
	d := decoder{b: data}
	if !d.lit(`{"user_id":`) {
		return 0, p, badState("it does not start with user_id")
	}
	id, err := d.userID(CodeBadUserID, -1)
	if err != nil {
		return 0, p, badState("bad user_id")
	}
	switch {
	case d.lit(`,"online":true`):
		p.Online = true
		switch {
		case d.lit(`,"status":"away"`):
			p.Status = StatusAway
		case d.lit(`,"status":"dnd"`):
			p.Status = StatusDND
		}
		if d.lit(`,"text":`) {
			if !canonicalString(d.b[d.i:]) {
				return 0, p, badState("text is not written as AppendPresence writes it")
			}
			// 4 bytes for each character allowed, 4 more for the one
			// found too many: the buffer never grows onto the heap.
			var buf [4*MaxStatusText + 4]byte
			text, err := d.text(buf[:0])
			if err != nil || len(text) == 0 {
				return 0, p, badState("bad text")
			}
			p.Text = string(text)
		}
	case d.lit(`,"online":false`):
		if d.lit(`,"last_seen":"`) {
			if p.LastSeen, err = parseLastSeen(&d); err != nil {
				return 0, p, err
			}
		}
	default:
		return 0, p, badState("online is missing or not second")
	}
	if !d.eat('}') || d.i != len(d.b) {
		return 0, p, badState("unexpected field or data at byte " + strconv.Itoa(d.i))
	}
	return id, p, nil
}

// canonicalString reports whether the JSON string at the start of b uses
// no escape but \" and \\, as appendString writes text that
// CheckStatusText accepts; so every message DecodeState accepts is exactly
// what AppendPresence would write for it.
func canonicalString(b []byte) bool {
	if len(b) == 0 || b[0] != '"' {
		return false
	}
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '"':
			return true
		case '\\':
			if i+1 < len(b) && (b[i+1] == '"' || b[i+1] == '\\') {
				i++
				continue
			}
			return false
		}
	}
	return false
}

func badState(why string) error { return fmt.Errorf("%w: %s", ErrBadState, why) }

// parseLastSeen reads the time of last_seen and its closing quote: exactly
// LastSeenLayout, a real calendar date (no February 30, no leap second),
// within maxLastSeen, after 1970.
func parseLastSeen(d *decoder) (int64, error) {
	const n = len(LastSeenLayout)
	if len(d.b)-d.i < n+1 || d.b[d.i+n] != '"' {
		return 0, badState("bad last_seen")
	}
	s := d.b[d.i : d.i+n]
	num := func(i, w int) int {
		v := 0
		for _, c := range s[i : i+w] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, min, sec := num(11, 2), num(14, 2), num(17, 2)
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
		year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 59 {
		return 0, badState("bad last_seen")
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, 0, time.UTC)
	if t.Day() != day || t.Unix() <= 0 {
		// time.Date moved an impossible day into the next month.
		return 0, badState("bad last_seen")
	}
	d.i += n + 1
	return t.Unix(), nil
}
