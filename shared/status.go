package shared

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Status is what a user says about their availability (DESIGN §1, §2). The
// zero value is StatusOnline, which a user has unless they say otherwise.
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

// String returns the wire name of s, or "Status(n)" for a value that is none
// of the constants.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is one of the Status constants.
func (s Status) Valid() bool { return int(s) < len(statusNames) }

// ParseStatus returns the Status named name (exactly as on the wire:
// lowercase), and false for any other string.
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

// MarshalText writes the wire name, so a Status in a JSON struct (an event
// on the bus) is spelled as clients spell it. An invalid Status is an error
// rather than a name nobody can read back.
func (s Status) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, protoErr(CodeBadStatus, "status "+s.String()+" has no name")
	}
	return []byte(statusNames[s]), nil
}

// UnmarshalText reads a wire name; anything else is a *ProtocolError with
// CodeBadStatus.
func (s *Status) UnmarshalText(b []byte) error {
	v, ok := ParseStatus(string(b))
	if !ok {
		return errBadStatusName()
	}
	*s = v
	return nil
}

func errBadStatusName() error {
	return protoErr(CodeBadStatus, "status must be one of online, away, dnd, invisible")
}

// MaxStatusText is the longest status text, in characters (Unicode code
// points, not bytes and not user-perceived glyphs: an emoji written as a
// ZWJ sequence counts each of its code points). In UTF-8 that is at most
// 4 × 128 = 512 bytes.
const MaxStatusText = 128

// CheckStatusText reports whether text may be a status text: valid UTF-8, at
// most MaxStatusText characters, none of them refused by the rules below.
// The error is a *ProtocolError with CodeBadStatus. The empty text is valid
// (it means none). DecodeClient applies the same rules to a client's text;
// presence and DecodeState apply them to text that crossed the bus.
//
// Refused characters, because a status line is shown inline in other
// people's rosters and must not break out of it:
//
//   - control characters: C0 (U+0000–U+001F, so also tab and line breaks),
//     DEL (U+007F) and C1 (U+0080–U+009F, which holds NEL);
//   - the line and paragraph separators U+2028 and U+2029;
//   - the bidirectional embeddings, overrides and isolates U+202A–U+202E and
//     U+2066–U+2069, which reorder the text around them ("Trojan Source").
//
// Everything else is allowed, other format characters included: the
// zero-width joiner and variation selectors build emoji, the marks
// U+200E/U+200F and U+061C carry no state past themselves, and tag
// characters spell subdivision flags. Text is taken as sent: not
// normalised, not trimmed.
func CheckStatusText(text string) error {
	n := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && size <= 1 {
			return protoErr(CodeBadStatus, "text is not valid UTF-8")
		}
		if err := textRune(r); err != nil {
			return err
		}
		if n++; n > MaxStatusText {
			return errTextTooLong()
		}
		i += size
	}
	return nil
}

func errTextTooLong() error {
	return protoErr(CodeBadStatus, "text is longer than "+strconv.Itoa(MaxStatusText)+" characters")
}

// textRune applies CheckStatusText's character rules to r.
func textRune(r rune) error {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return protoErr(CodeBadStatus, "text holds a control character ("+runeName(r)+")")
	case r == 0x2028, r == 0x2029:
		return protoErr(CodeBadStatus, "text holds a line or paragraph separator ("+runeName(r)+")")
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return protoErr(CodeBadStatus, "text holds a bidirectional override ("+runeName(r)+")")
	}
	return nil
}

// runeName spells r as U+XXXX for error messages: the character itself
// would be the very thing that breaks the line it is shown on.
func runeName(r rune) string {
	s := strconv.FormatUint(uint64(r), 16)
	for len(s) < 4 {
		s = "0" + s
	}
	return "U+" + s
}

// status reads a status value.
func (d *decoder) status() (Status, error) {
	var buf [len("invisible")]byte
	name, err := d.asciiString(buf[:0], len(buf), statusChars, CodeBadStatus, CodeBadStatus, "status")
	if err != nil {
		if pe, ok := err.(*ProtocolError); ok && pe.Code == CodeBadStatus {
			return 0, errBadStatusName()
		}
		return 0, err
	}
	s, ok := ParseStatus(string(name))
	if !ok {
		return 0, errBadStatusName()
	}
	return s, nil
}

var statusChars = charSet("abcdefghijklmnopqrstuvwxyz")

// text reads a status text (or null, which is no text) into dst, applying
// CheckStatusText's rules as it goes, so that an overlong text is refused
// after MaxStatusText characters rather than read whole.
func (d *decoder) text(dst []byte) ([]byte, error) {
	if d.lit("null") {
		return dst, nil
	}
	if d.peek() != '"' {
		return dst, protoErr(CodeBadStatus, "text must be a string or null")
	}
	d.i++
	for n := 0; d.i < len(d.b); {
		c := d.b[d.i]
		var r rune
		switch {
		case c == '"':
			d.i++
			return dst, nil
		case c == '\\':
			var err error
			if r, err = d.textEscape(); err != nil {
				return dst, err
			}
		case c < utf8.RuneSelf:
			// A raw control character is also bad JSON; it is reported
			// as what it is for the text, a control character.
			r = rune(c)
			d.i++
		default:
			var size int
			r, size = utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size <= 1 {
				return dst, protoErr(CodeBadStatus, "text is not valid UTF-8")
			}
			d.i += size
		}
		if err := textRune(r); err != nil {
			return dst, err
		}
		if n++; n > MaxStatusText {
			return dst, errTextTooLong()
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst, d.syntax("unterminated string")
}

// textEscape is escape for text, which must be real characters: a \u
// escape of a UTF-16 surrogate must be the first half of a pair, followed by
// the second, and the pair is one character. (Elsewhere a lone surrogate is
// let through, as encoding/json does, turned into U+FFFD.)
func (d *decoder) textEscape() (rune, error) {
	r, err := d.escape()
	if err != nil || !utf16.IsSurrogate(r) {
		return r, err
	}
	if r < 0xdc00 && d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
		low, err := d.escape()
		if err != nil {
			return 0, err
		}
		if c := utf16.DecodeRune(r, low); c != utf8.RuneError {
			return c, nil
		}
	}
	return 0, protoErr(CodeBadStatus, "text holds half of a UTF-16 surrogate pair (\\u"+strconv.FormatUint(uint64(r), 16)+")")
}
