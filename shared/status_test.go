package shared

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
)

func TestStatusNames(t *testing.T) {
	for _, c := range []struct {
		s    Status
		name string
	}{{StatusOnline, "online"}, {StatusAway, "away"}, {StatusDND, "dnd"}, {StatusInvisible, "invisible"}} {
		if c.s.String() != c.name || !c.s.Valid() {
			t.Errorf("%d: String %q Valid %v, want %q", c.s, c.s.String(), c.s.Valid(), c.name)
		}
		if got, ok := ParseStatus(c.name); !ok || got != c.s {
			t.Errorf("ParseStatus(%q) = %v %v", c.name, got, ok)
		}
		// Through encoding/json and goccy (what ServerMessage and the
		// bus events use), as a field spelled the wire's way.
		type event struct {
			S Status `json:"s"`
		}
		for _, enc := range []struct {
			name      string
			marshal   func(any) ([]byte, error)
			unmarshal func([]byte, any) error
		}{{"encoding/json", json.Marshal, json.Unmarshal}, {"goccy", gojson.Marshal, gojson.Unmarshal}} {
			b, err := enc.marshal(event{c.s})
			var back event
			if err != nil || string(b) != `{"s":"`+c.name+`"}` || enc.unmarshal(b, &back) != nil || back.S != c.s {
				t.Errorf("%s: %v marshals as %s (%v), back %v", enc.name, c.s, b, err, back.S)
			}
		}
	}
	if s := Status(4); s.Valid() || s.String() != "Status(4)" {
		t.Errorf("Status(4): Valid %v String %q", s.Valid(), s.String())
	}
	if _, err := Status(4).MarshalText(); err == nil {
		t.Error("Status(4) marshals")
	}
	for _, name := range []string{"", "Online", "AWAY", "busy", "dnd ", "invisible\x00"} {
		if _, ok := ParseStatus(name); ok {
			t.Errorf("ParseStatus(%q) accepted", name)
		}
		var s Status
		var pe *ProtocolError
		if err := s.UnmarshalText([]byte(name)); !errors.As(err, &pe) || pe.Code != CodeBadStatus {
			t.Errorf("UnmarshalText(%q) = %v", name, err)
		}
	}
}

func TestCheckStatusText(t *testing.T) {
	good := []string{
		"", "in a meeting", "café", "😀", "👨‍👩‍👧", "\u200e\u200f\u061c", "\ufeff", "\U000e0067", "\ufffd",
		strings.Repeat("a", MaxStatusText), strings.Repeat("é", MaxStatusText), strings.Repeat("😀", MaxStatusText),
		" leading and trailing ",
	}
	for _, s := range good {
		if err := CheckStatusText(s); err != nil {
			t.Errorf("CheckStatusText(%q): %v", s, err)
		}
	}
	bad := []string{
		strings.Repeat("a", MaxStatusText+1), strings.Repeat("é", MaxStatusText+1), strings.Repeat("😀", MaxStatusText+1),
		"\x00", "a\tb", "a\nb", "\r", "\x1f", "\x7f", "\u0080", "\u0085", "\u009f",
		"\u2028", "\u2029", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
		"\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf", "a\xe2\x82",
	}
	for _, s := range bad {
		var pe *ProtocolError
		if err := CheckStatusText(s); !errors.As(err, &pe) || pe.Code != CodeBadStatus || pe.Message == "" {
			t.Errorf("CheckStatusText(%q) = %v, want bad_status", s, err)
		}
	}
}

// TestTextRulesAgree: DecodeClient's text decoder and CheckStatusText refuse
// the same characters, raw or escaped. Every code point below U+3000 (where
// all refused ones are) and every 61st above.
func TestTextRulesAgree(t *testing.T) {
	var m ClientMessage
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r >= 0x3000 && r%61 != 0 {
			continue
		}
		if r >= 0xd800 && r <= 0xdfff {
			continue // not characters; TestDecodeClientInvalid covers the escapes
		}
		want := CheckStatusText(string(r)) == nil
		escaped := fmt.Sprintf(`\u%04x`, r)
		if hi, lo := utf16.EncodeRune(r); hi != utf8.RuneError {
			escaped = fmt.Sprintf(`\u%04x\u%04x`, hi, lo)
		}
		for _, spelled := range []string{string(r), escaped} {
			if spelled == `"` || spelled == `\` {
				continue
			}
			in := []byte(`{"status":"away","text":"` + spelled + `"}`)
			err := DecodeClient(in, &m, 0)
			if got := err == nil; got != want {
				t.Fatalf("U+%04X spelled %q: DecodeClient %v, CheckStatusText accepts %v", r, spelled, err, want)
			}
			if err == nil && string(m.Text) != string(r) {
				t.Fatalf("U+%04X spelled %q decoded as %q", r, spelled, m.Text)
			}
		}
	}
}
