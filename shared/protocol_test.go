package shared

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

func TestDecodeClientValid(t *testing.T) {
	cases := []struct {
		in   string
		want ClientMessage
	}{
		{`{"user_id": 1, "friends": [2, 3, 4]}`, ClientMessage{UserID: 1, HasUserID: true, Friends: []int64{2, 3, 4}, HasFriends: true}},
		{`{"user_id":1}`, ClientMessage{UserID: 1, HasUserID: true}},
		{`{"user_id": 2, "online": false}`, ClientMessage{UserID: 2, HasUserID: true, HasOnline: true}},
		{`{"user_id": 9223372036854775807, "online": true}`, ClientMessage{UserID: MaxUserID, HasUserID: true, Online: true, HasOnline: true}},
		{`  {"friends": []}  `, ClientMessage{Friends: []int64{}, HasFriends: true}},
		{`{}`, ClientMessage{}},
		{`{"user\u005fid": 7}`, ClientMessage{UserID: 7, HasUserID: true}},
		{`{"x": {"a": [1, 2.5e3, null, true, "\u00e9\n"]}, "user_id": 3, "other": "é"}`, ClientMessage{UserID: 3, HasUserID: true}},
	}
	for _, c := range cases {
		var m ClientMessage
		if err := DecodeClient([]byte(c.in), &m, 5000); err != nil {
			t.Errorf("DecodeClient(%s): %v", c.in, err)
			continue
		}
		if m.UserID != c.want.UserID || m.HasUserID != c.want.HasUserID || m.Online != c.want.Online ||
			m.HasOnline != c.want.HasOnline || m.HasFriends != c.want.HasFriends || !slices.Equal(m.Friends, c.want.Friends) {
			t.Errorf("DecodeClient(%s) = %+v, want %+v", c.in, m, c.want)
		}
	}
}

// badClientMessages is shared with the fuzz seed corpus: each must be
// rejected with the given code.
var badClientMessages = []struct {
	name, in, code string
}{
	{"not json", `hello`, CodeBadJSON},
	{"array", `[1]`, CodeBadJSON},
	{"unterminated", `{"user_id": 1`, CodeBadJSON},
	{"truncated friends", `{"friends": [2,`, CodeBadJSON},
	{"truncated user_id", `{"user_id":`, CodeBadJSON},
	{"trailing", `{"user_id": 1} {}`, CodeBadJSON},
	{"user_id zero", `{"user_id": 0}`, CodeBadUserID},
	{"user_id negative", `{"user_id": -5}`, CodeBadUserID},
	{"user_id fractional", `{"user_id": 1.5}`, CodeBadUserID},
	{"user_id float integer", `{"user_id": 1.0}`, CodeBadUserID},
	{"user_id string", `{"user_id": "1"}`, CodeBadUserID},
	{"user_id 2^63", `{"user_id": 9223372036854775808}`, CodeBadUserID},
	{"user_id 1e400", `{"user_id": 1e400}`, CodeBadUserID},
	{"user_id null", `{"user_id": null}`, CodeBadUserID},
	{"user_id leading zero", `{"user_id": 01}`, CodeBadJSON},
	{"friends object", `{"user_id": 1, "friends": {"a": 2}}`, CodeBadFriends},
	{"friends string", `{"user_id": 1, "friends": "2,3"}`, CodeBadFriends},
	{"friends non-integer", `{"user_id": 1, "friends": [2, "3"]}`, CodeBadFriends},
	{"friends fraction", `{"user_id": 1, "friends": [2.5]}`, CodeBadFriends},
	{"friends zero", `{"user_id": 1, "friends": [0]}`, CodeBadFriends},
	{"friends nested", `{"user_id": 1, "friends": [[2]]}`, CodeBadFriends},
	{"duplicate user_id", `{"user_id": 1, "user_id": 2}`, CodeDuplicateKey},
	{"duplicate friends", `{"user_id": 1, "friends": [], "friends": [2]}`, CodeDuplicateKey},
	{"online not bool", `{"user_id": 1, "online": 1}`, CodeBadOnline},
	{"invalid utf8 key", "{\"\xff\": 1}", CodeInvalidUTF8},
	{"invalid utf8 value", "{\"user_id\": 1, \"name\": \"\xc3\x28\"}", CodeInvalidUTF8},
	{"deep nesting", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, CodeBadJSON},
	{"too many friends", `{"user_id": 1, "friends": [1,2,3,4]}`, CodeTooManyFriends},
}

func TestDecodeClientInvalid(t *testing.T) {
	for _, c := range badClientMessages {
		t.Run(c.name, func(t *testing.T) {
			var m ClientMessage
			err := DecodeClient([]byte(c.in), &m, 3)
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("DecodeClient(%q) = %v, want a *ProtocolError", c.in, err)
			}
			if pe.Code != c.code {
				t.Fatalf("DecodeClient(%q) code %q (%s), want %q", c.in, pe.Code, pe.Message, c.code)
			}
			if pe.Message == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func TestEncodersProduceValidJSON(t *testing.T) {
	var v map[string]any
	for _, b := range [][]byte{
		AppendState(nil, 42, true),
		AppendState(nil, MaxUserID, false),
		AppendReady(nil, "g1-abc-1"),
		AppendError(nil, CodeBadJSON, "quote \" backslash \\ control \x01 bad \xff"),
	} {
		if err := json.Unmarshal(b, &v); err != nil || !utf8.Valid(b) {
			t.Errorf("%s: %v", b, err)
		}
	}
	if got := string(AppendState(nil, 2, true)); got != `{"user_id":2,"online":true}` {
		t.Errorf("AppendState = %s", got)
	}
}

// FuzzDecodeClient checks that the decoder never panics, that whatever it
// accepts is valid JSON with the contract's types, and that its answers agree
// with a general JSON decoder on what the known fields hold.
func FuzzDecodeClient(f *testing.F) {
	for _, s := range []string{
		`{"user_id": 1, "friends": [2, 3, 4]}`, `{"friends": [2, 5]}`, `{"online": false}`,
		`{"user_id": 2, "online": false}`, `{}`, `{"user_id": 1, "extra": {"a": [1, "x"]}}`,
	} {
		f.Add([]byte(s))
	}
	for _, c := range badClientMessages {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m ClientMessage
		err := DecodeClient(data, &m, 5000)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code == "" || pe.Message == "" {
				t.Fatalf("error is not a complete *ProtocolError: %v", err)
			}
			return
		}
		if !json.Valid(data) || !utf8.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if m.HasUserID && (m.UserID <= 0) {
			t.Fatalf("accepted user_id %d", m.UserID)
		}
		var generic map[string]json.RawMessage
		if err := json.Unmarshal(data, &generic); err != nil {
			t.Fatalf("accepted %q, which a JSON decoder rejects: %v", data, err)
		}
		if raw, ok := generic["user_id"]; ok != m.HasUserID {
			t.Fatalf("HasUserID %v for %q", m.HasUserID, data)
		} else if ok {
			var id int64
			if err := json.Unmarshal(raw, &id); err != nil || id != m.UserID {
				t.Fatalf("user_id %d, JSON says %s", m.UserID, raw)
			}
		}
		if m.HasFriends && len(m.Friends) > 5000 {
			t.Fatalf("%d friends accepted", len(m.Friends))
		}
	})
}

func BenchmarkDecodeHello(b *testing.B) {
	line := []byte(`{"user_id": 123456, "friends": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}`)
	var m ClientMessage
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := DecodeClient(line, &m, 5000); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeState(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendState(buf[:0], 123456789, true)
	}
}

// TestAppendDecodesAsServerMessage holds the gateway's encoders and the
// readers' ServerMessage together: what one writes, the other reads whole.
func TestAppendDecodesAsServerMessage(t *testing.T) {
	id, on, off := int64(MaxUserID), true, false
	cases := []struct {
		b    []byte
		want ServerMessage
		kind ServerKind
	}{
		{AppendState(nil, id, true), ServerMessage{UserID: &id, Online: &on}, ServerState},
		{AppendState(nil, id, false), ServerMessage{UserID: &id, Online: &off}, ServerState},
		{AppendReady(nil, "g1-abc-1"), ServerMessage{Ready: true, Session: "g1-abc-1"}, ServerReady},
		{AppendError(nil, CodeBadJSON, "a \"b\"\n"), ServerMessage{Error: CodeBadJSON, Message: "a \"b\"\n"}, ServerError},
		{[]byte(`{"online":true}`), ServerMessage{Online: &on}, ServerUnknown},
		{[]byte(`{"user_id":0,"online":true}`), ServerMessage{UserID: new(int64), Online: &on}, ServerUnknown},
		{[]byte(`{"future":1}`), ServerMessage{}, ServerUnknown},
	}
	for _, c := range cases {
		m := ServerMessage{Session: "stale"}
		if err := DecodeServer(c.b, &m); err != nil {
			t.Fatalf("%s: %v", c.b, err)
		}
		if !reflect.DeepEqual(m, c.want) || m.Kind() != c.kind {
			t.Errorf("%s: %+v kind %d, want %+v kind %d", c.b, m, m.Kind(), c.want, c.kind)
		}
		// And back: encoding the struct gives the same fields, no more.
		again, _ := json.Marshal(m)
		var m2 ServerMessage
		if err := DecodeServer(again, &m2); err != nil || !reflect.DeepEqual(m2, m) {
			t.Errorf("%s re-encoded as %s", c.b, again)
		}
	}
}
