package shared

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// presenceGolden is what AppendPresence writes, byte for byte; shared with
// the round-trip tests and the fuzz corpus.
var presenceGolden = []struct {
	name string
	id   int64
	p    Presence
	want string
}{
	{"plain online", 2, Presence{Online: true}, `{"user_id":2,"online":true}`},
	{"plain offline", 2, Presence{}, `{"user_id":2,"online":false}`},
	{"away", 2, Presence{Online: true, Status: StatusAway}, `{"user_id":2,"online":true,"status":"away"}`},
	{"dnd", 2, Presence{Online: true, Status: StatusDND}, `{"user_id":2,"online":true,"status":"dnd"}`},
	{"away with text", 2, Presence{Online: true, Status: StatusAway, Text: "in a meeting"}, `{"user_id":2,"online":true,"status":"away","text":"in a meeting"}`},
	{"online with text", MaxUserID, Presence{Online: true, Text: "coding"}, `{"user_id":9223372036854775807,"online":true,"text":"coding"}`},
	{"text escaped", 3, Presence{Online: true, Text: `say "hi" \ é 😀`}, `{"user_id":3,"online":true,"text":"say \"hi\" \\ é 😀"}`},
	{"offline last seen", 2, Presence{LastSeen: 1796230800}, `{"user_id":2,"online":false,"last_seen":"2026-12-02T17:00:00Z"}`},
	{"last seen first second", 2, Presence{LastSeen: 1}, `{"user_id":2,"online":false,"last_seen":"1970-01-01T00:00:01Z"}`},
	{"last seen leap day", 2, Presence{LastSeen: 951782400}, `{"user_id":2,"online":false,"last_seen":"2000-02-29T00:00:00Z"}`},
	{"last seen last second", 2, Presence{LastSeen: maxLastSeen}, `{"user_id":2,"online":false,"last_seen":"9999-12-31T23:59:59Z"}`},
}

// presenceNormalised: what AppendPresence leaves out, so that these write
// the same bytes as a golden entry.
var presenceNormalised = []struct {
	name string
	id   int64
	p    Presence
	want string
}{
	{"invisible is never written", 2, Presence{Online: true, Status: StatusInvisible}, `{"user_id":2,"online":true}`},
	{"an unknown status is not written", 2, Presence{Online: true, Status: 9}, `{"user_id":2,"online":true}`},
	{"offline has no status or text", 2, Presence{Status: StatusAway, Text: "gone"}, `{"user_id":2,"online":false}`},
	{"invisible user, as watchers see it", 2, Presence{Status: StatusInvisible, Text: "x", LastSeen: 1}, `{"user_id":2,"online":false,"last_seen":"1970-01-01T00:00:01Z"}`},
	{"online has no last seen", 2, Presence{Online: true, LastSeen: 1}, `{"user_id":2,"online":true}`},
	{"last seen unknown", 2, Presence{LastSeen: 0}, `{"user_id":2,"online":false}`},
	{"last seen before 1970", 2, Presence{LastSeen: -1}, `{"user_id":2,"online":false}`},
	{"last seen after 9999", 2, Presence{LastSeen: maxLastSeen + 1}, `{"user_id":2,"online":false}`},
}

func TestAppendPresence(t *testing.T) {
	for _, c := range append(presenceGolden, presenceNormalised...) {
		if got := string(AppendPresence([]byte("x"), c.id, c.p)); got != "x"+c.want {
			t.Errorf("%s: AppendPresence = %s, want %s", c.name, got[1:], c.want)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(c.want), &v); err != nil {
			t.Errorf("%s: encoding/json: %v", c.name, err)
		}
	}
}

// TestV1StateUnchanged: a plain state is what v1 wrote, byte for byte, from
// AppendState and AppendPresence alike, so v1 clients see no change.
func TestV1StateUnchanged(t *testing.T) {
	for _, c := range []struct {
		id     int64
		online bool
		want   string
	}{
		{1, true, `{"user_id":1,"online":true}`},
		{2, false, `{"user_id":2,"online":false}`},
		{MaxUserID, true, `{"user_id":9223372036854775807,"online":true}`},
	} {
		if got := string(AppendState(nil, c.id, c.online)); got != c.want {
			t.Errorf("AppendState(%d, %v) = %s, want %s", c.id, c.online, got, c.want)
		}
		if got := string(AppendPresence(nil, c.id, Presence{Online: c.online})); got != c.want {
			t.Errorf("AppendPresence(%d, plain %v) = %s, want %s", c.id, c.online, got, c.want)
		}
	}
}

func TestAppendLastSeenMatchesTime(t *testing.T) {
	secs := []int64{1, 59, 60, 86399, 86400, 951782399, 951782400, 1796230800, 4107542400, maxLastSeen - 1, maxLastSeen}
	for s := int64(1); s < maxLastSeen; s += 7919 * 86400 / 3 {
		secs = append(secs, s)
	}
	for _, s := range secs {
		want := time.Unix(s, 0).UTC().Format(LastSeenLayout)
		if got := string(appendLastSeen(nil, s)); got != want {
			t.Fatalf("appendLastSeen(%d) = %s, want %s", s, got, want)
		}
		d := decoder{b: []byte(want + `"`)}
		if got, err := parseLastSeen(&d); err != nil || got != s {
			t.Fatalf("parseLastSeen(%s) = %d, %v, want %d", want, got, err, s)
		}
	}
}

func TestDecodeStateRoundTrip(t *testing.T) {
	for _, c := range append(presenceGolden, presenceNormalised...) {
		id, p, err := DecodeState([]byte(c.want))
		if err != nil {
			t.Errorf("%s: DecodeState(%s): %v", c.name, c.want, err)
			continue
		}
		if id != c.id || string(AppendPresence(nil, id, p)) != c.want {
			t.Errorf("%s: DecodeState(%s) = %d %+v, which writes %s", c.name, c.want, id, p, AppendPresence(nil, id, p))
		}
	}
	// The decoded Presence is the input less what is not written.
	id, p, err := DecodeState([]byte(`{"user_id":2,"online":true,"status":"away","text":"a \"b\" \\"}`))
	if want := (Presence{Online: true, Status: StatusAway, Text: `a "b" \`}); err != nil || id != 2 || p != want {
		t.Errorf("DecodeState = %d %+v %v, want 2 %+v", id, p, err, want)
	}
}

// badStates are refused by DecodeState; also fuzz seeds.
var badStates = []struct{ name, in string }{
	{"empty", ``},
	{"null", `null`},
	{"array", `[]`},
	{"empty object", `{}`},
	{"not json", `hello`},
	{"a push", `{"push":{"user_id":2,"online":true}}`},
	{"an error", `{"error":"shutdown","message":"log in at http://evil.example/"}`},
	{"ready", `{"ready":true,"session":"x"}`},
	{"v1 bare", `{"online":true}`},
	{"no online", `{"user_id":2}`},
	{"fields reversed", `{"online":true,"user_id":2}`},
	{"space after brace", `{ "user_id":2,"online":true}`},
	{"space after colon", `{"user_id": 2,"online":true}`},
	{"space before brace", `{"user_id":2,"online":true }`},
	{"trailing newline", "{\"user_id\":2,\"online\":true}\n"},
	{"trailing data", `{"user_id":2,"online":true}{}`},
	{"leading space", ` {"user_id":2,"online":true}`},
	{"escaped key", `{"user\u005fid":2,"online":true}`},
	{"user_id zero", `{"user_id":0,"online":true}`},
	{"user_id negative", `{"user_id":-2,"online":true}`},
	{"user_id leading zero", `{"user_id":02,"online":true}`},
	{"user_id fraction", `{"user_id":2.0,"online":true}`},
	{"user_id exponent", `{"user_id":2e0,"online":true}`},
	{"user_id 2^63", `{"user_id":9223372036854775808,"online":true}`},
	{"user_id string", `{"user_id":"2","online":true}`},
	{"online number", `{"user_id":2,"online":1}`},
	{"online null", `{"user_id":2,"online":null}`},
	{"online twice", `{"user_id":2,"online":true,"online":false}`},
	{"extra field", `{"user_id":2,"online":true,"x":1}`},
	{"extra field offline", `{"user_id":2,"online":false,"kicked":true}`},
	{"status online", `{"user_id":2,"online":true,"status":"online"}`},
	{"status invisible", `{"user_id":2,"online":true,"status":"invisible"}`},
	{"status unknown", `{"user_id":2,"online":true,"status":"busy"}`},
	{"status twice", `{"user_id":2,"online":true,"status":"away","status":"dnd"}`},
	{"status when offline", `{"user_id":2,"online":false,"status":"away"}`},
	{"status after text", `{"user_id":2,"online":true,"text":"x","status":"away"}`},
	{"text when offline", `{"user_id":2,"online":false,"text":"x"}`},
	{"text empty", `{"user_id":2,"online":true,"text":""}`},
	{"text null", `{"user_id":2,"online":true,"text":null}`},
	{"text number", `{"user_id":2,"online":true,"text":1}`},
	{"text unterminated", `{"user_id":2,"online":true,"text":"x}`},
	{"text control escape", `{"user_id":2,"online":true,"text":"a\u0001"}`},
	{"text newline escape", `{"user_id":2,"online":true,"text":"a\nb"}`},
	{"text needless escape", `{"user_id":2,"online":true,"text":"\u0041"}`},
	{"text escaped slash", `{"user_id":2,"online":true,"text":"a\/b"}`},
	{"text bidi override", "{\"user_id\":2,\"online\":true,\"text\":\"\u202e\"}"},
	{"text C1", "{\"user_id\":2,\"online\":true,\"text\":\"\u0085\"}"},
	{"text invalid utf8", "{\"user_id\":2,\"online\":true,\"text\":\"\xff\"}"},
	{"text too long", `{"user_id":2,"online":true,"text":"` + strings.Repeat("é", MaxStatusText+1) + `"}`},
	{"last seen when online", `{"user_id":2,"online":true,"last_seen":"2026-12-02T17:00:00Z"}`},
	{"last seen null", `{"user_id":2,"online":false,"last_seen":null}`},
	{"last seen number", `{"user_id":2,"online":false,"last_seen":1796230800}`},
	{"last seen fraction", `{"user_id":2,"online":false,"last_seen":"2026-12-02T17:00:00.5Z"}`},
	{"last seen offset", `{"user_id":2,"online":false,"last_seen":"2026-12-02T17:00:00+00:00"}`},
	{"last seen lowercase", `{"user_id":2,"online":false,"last_seen":"2026-12-02t17:00:00z"}`},
	{"last seen space", `{"user_id":2,"online":false,"last_seen":"2026-12-02 17:00:00Z"}`},
	{"last seen short", `{"user_id":2,"online":false,"last_seen":"2026-12-02T17:00Z"}`},
	{"last seen unterminated", `{"user_id":2,"online":false,"last_seen":"2026-12-02T17:00:00Z}`},
	{"last seen february 30", `{"user_id":2,"online":false,"last_seen":"2026-02-30T17:00:00Z"}`},
	{"last seen february 29 of 2026", `{"user_id":2,"online":false,"last_seen":"2026-02-29T00:00:00Z"}`},
	{"last seen month 13", `{"user_id":2,"online":false,"last_seen":"2026-13-01T00:00:00Z"}`},
	{"last seen day 0", `{"user_id":2,"online":false,"last_seen":"2026-12-00T00:00:00Z"}`},
	{"last seen hour 24", `{"user_id":2,"online":false,"last_seen":"2026-12-02T24:00:00Z"}`},
	{"last seen leap second", `{"user_id":2,"online":false,"last_seen":"2016-12-31T23:59:60Z"}`},
	{"last seen epoch", `{"user_id":2,"online":false,"last_seen":"1970-01-01T00:00:00Z"}`},
	{"last seen before 1970", `{"user_id":2,"online":false,"last_seen":"1969-12-31T23:59:59Z"}`},
	{"last seen signed digit", `{"user_id":2,"online":false,"last_seen":"2026-12-02T17:00:+1Z"}`},
	{"last seen twice", `{"user_id":2,"online":false,"last_seen":"2026-12-02T17:00:00Z","last_seen":"2026-12-02T17:00:00Z"}`},
}

func TestDecodeStateInvalid(t *testing.T) {
	for _, c := range badStates {
		id, p, err := DecodeState([]byte(c.in))
		if !errors.Is(err, ErrBadState) {
			t.Errorf("%s: DecodeState(%q) = %d %+v %v, want ErrBadState", c.name, c.in, id, p, err)
		}
	}
}

// FuzzDecodeState: whatever DecodeState accepts is exactly what
// AppendPresence writes for what it returns, so the gateway re-encodes
// nothing presence could not have sent; every refusal is ErrBadState.
func FuzzDecodeState(f *testing.F) {
	for _, c := range presenceGolden {
		f.Add([]byte(c.want))
	}
	for _, c := range badStates {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, p, err := DecodeState(data)
		if err != nil {
			if !errors.Is(err, ErrBadState) {
				t.Fatalf("DecodeState(%q): %v, not ErrBadState", data, err)
			}
			return
		}
		if again := AppendPresence(nil, id, p); string(again) != string(data) {
			t.Fatalf("DecodeState(%q) = %d %+v, which AppendPresence writes as %s", data, id, p, again)
		}
		if id <= 0 || CheckStatusText(p.Text) != nil || p.Status == StatusInvisible {
			t.Fatalf("DecodeState(%q) accepted %d %+v", data, id, p)
		}
		var m ServerMessage
		if err := DecodeServer(data, &m); err != nil || m.Kind() != ServerState || *m.UserID != id || m.Presence() != p {
			t.Fatalf("DecodeServer(%q) = %+v %v, DecodeState %d %+v", data, m, err, id, p)
		}
	})
}

// FuzzPresenceRoundTrip: every Presence presence may hold comes back from
// the bus as written, less the fields AppendPresence leaves out.
func FuzzPresenceRoundTrip(f *testing.F) {
	for _, c := range append(presenceGolden, presenceNormalised...) {
		f.Add(c.id, c.p.Online, uint8(c.p.Status), c.p.Text, c.p.LastSeen)
	}
	f.Add(int64(0), true, uint8(0), "", int64(0))
	f.Add(int64(5), true, uint8(1), "a\x00b", int64(0))
	f.Fuzz(func(t *testing.T, id int64, online bool, status uint8, text string, lastSeen int64) {
		in := Presence{Online: online, Status: Status(status), Text: text, LastSeen: lastSeen}
		b := AppendPresence(nil, id, in)
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("AppendPresence(%d, %+v) = %q, not JSON: %v", id, in, b, err)
		}
		// AppendPresence writes each byte of invalid UTF-8 as U+FFFD.
		valid := []rune(text)
		gotID, got, err := DecodeState(b)
		if id <= 0 || online && CheckStatusText(string(valid)) != nil {
			if err == nil {
				t.Fatalf("DecodeState(%q) accepted %d %+v, from %d %+v", b, gotID, got, id, in)
			}
			return
		}
		want := in
		want.Text = string(valid)
		if online {
			want.LastSeen = 0
			if want.Status != StatusAway && want.Status != StatusDND {
				want.Status = StatusOnline
			}
		} else {
			want.Status, want.Text = StatusOnline, ""
			if lastSeen <= 0 || lastSeen > maxLastSeen {
				want.LastSeen = 0
			}
		}
		if err != nil || gotID != id || got != want {
			t.Fatalf("DecodeState(%q) = %d %+v %v, want %d %+v", b, gotID, got, err, id, want)
		}
	})
}

func BenchmarkAppendPresence(b *testing.B) {
	for _, c := range []struct {
		name string
		p    Presence
	}{
		{"plain", Presence{Online: true}},
		{"away_text", Presence{Online: true, Status: StatusAway, Text: "in a meeting"}},
		{"offline_last_seen", Presence{LastSeen: 1796230800}},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendPresence(buf[:0], 123456789, c.p)
			}
		})
	}
}

func BenchmarkDecodeState(b *testing.B) {
	for _, c := range []struct {
		name string
		p    Presence
	}{
		{"plain", Presence{Online: true}},
		{"away_text", Presence{Online: true, Status: StatusAway, Text: "in a meeting"}},
		{"offline_last_seen", Presence{LastSeen: 1796230800}},
	} {
		b.Run(c.name, func(b *testing.B) {
			msg := AppendPresence(nil, 123456789, c.p)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, _, err := DecodeState(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
