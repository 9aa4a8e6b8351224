package shared

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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

		// v2: identity. A hello may carry a token instead of user_id;
		// which of them it needs is the gateway's to say.
		{`{"token": "eyJh.eyJz.c2ln", "friends": [2]}`, ClientMessage{Token: []byte("eyJh.eyJz.c2ln"), HasToken: true, Friends: []int64{2}, HasFriends: true}},
		{`{"user_id": 1, "token": "a-b_c.D9"}`, ClientMessage{UserID: 1, HasUserID: true, Token: []byte("a-b_c.D9"), HasToken: true}},
		{`{"token": "a\u002eb\u0041"}`, ClientMessage{Token: []byte("a.bA"), HasToken: true}},
		{`{"token": "` + strings.Repeat("t", MaxTokenLen) + `"}`, ClientMessage{Token: []byte(strings.Repeat("t", MaxTokenLen)), HasToken: true}},
		{`{"token": "` + strings.Repeat("t", MaxTokenLen-1) + `\u0041"}`, ClientMessage{Token: []byte(strings.Repeat("t", MaxTokenLen-1) + "A"), HasToken: true}},

		// v2: status and text.
		{`{"status": "online"}`, ClientMessage{Status: StatusOnline, HasStatus: true}},
		{`{"status": "away"}`, ClientMessage{Status: StatusAway, HasStatus: true}},
		{`{"status": "dnd"}`, ClientMessage{Status: StatusDND, HasStatus: true}},
		{`{"status": "invisible"}`, ClientMessage{Status: StatusInvisible, HasStatus: true}},
		{`{"status": "\u0061way"}`, ClientMessage{Status: StatusAway, HasStatus: true}},
		{`{"status": "away", "text": "in a meeting"}`, ClientMessage{Status: StatusAway, HasStatus: true, Text: []byte("in a meeting"), HasText: true}},
		{`{"text": "later", "status": "dnd"}`, ClientMessage{Status: StatusDND, HasStatus: true, Text: []byte("later"), HasText: true}},
		{`{"status": "away", "text": null}`, ClientMessage{Status: StatusAway, HasStatus: true, HasText: true}},
		{`{"status": "away", "text": ""}`, ClientMessage{Status: StatusAway, HasStatus: true, HasText: true}},
		{`{"status": "online", "text": "caf\u00e9 \"ok\" \\ \/"}`, ClientMessage{HasStatus: true, Text: []byte(`café "ok" \ /`), HasText: true}},
		{`{"status": "away", "text": "\ud83d\ude00 😀"}`, ClientMessage{Status: StatusAway, HasStatus: true, Text: []byte("😀 😀"), HasText: true}},
		// Allowed format characters: ZWJ (a family emoji), LRM, a
		// variation selector, a subdivision flag's tags, U+FEFF.
		{`{"status": "away", "text": "👨‍👩‍👧 \u200e ❤️ 🏴󠁧󠁢󠁳󠁣󠁴󠁿 \ufeff"}`, ClientMessage{Status: StatusAway, HasStatus: true, Text: []byte("👨‍👩‍👧 \u200e ❤️ 🏴󠁧󠁢󠁳󠁣󠁴󠁿 \ufeff"), HasText: true}},
		// The bound is in characters: 128 of one, two and four bytes.
		{`{"status": "away", "text": "` + strings.Repeat("a", MaxStatusText) + `"}`, ClientMessage{Status: StatusAway, HasStatus: true, Text: []byte(strings.Repeat("a", MaxStatusText)), HasText: true}},
		{`{"status": "away", "text": "` + strings.Repeat("é", MaxStatusText) + `"}`, ClientMessage{Status: StatusAway, HasStatus: true, Text: []byte(strings.Repeat("é", MaxStatusText)), HasText: true}},
		{`{"status": "away", "text": "` + strings.Repeat("😀", MaxStatusText) + `"}`, ClientMessage{Status: StatusAway, HasStatus: true, Text: []byte(strings.Repeat("😀", MaxStatusText)), HasText: true}},
		{`{"status": "away", "text": "` + strings.Repeat(`\ud83d\ude00`, MaxStatusText) + `"}`, ClientMessage{Status: StatusAway, HasStatus: true, Text: []byte(strings.Repeat("😀", MaxStatusText)), HasText: true}},

		// v2: the UDP cookie, and a hello with everything.
		{`{"cookie": "AZaz09-_=="}`, ClientMessage{Cookie: []byte("AZaz09-_=="), HasCookie: true}},
		{`{"cookie": "` + strings.Repeat("c", MaxCookieLen) + `"}`, ClientMessage{Cookie: []byte(strings.Repeat("c", MaxCookieLen)), HasCookie: true}},
		{`{"user_id": 1, "friends": [2], "online": true, "token": "t.t.t", "status": "dnd", "text": "x", "cookie": "c", "future": [1]}`,
			ClientMessage{UserID: 1, HasUserID: true, Friends: []int64{2}, HasFriends: true, Online: true, HasOnline: true,
				Token: []byte("t.t.t"), HasToken: true, Status: StatusDND, HasStatus: true, Text: []byte("x"), HasText: true,
				Cookie: []byte("c"), HasCookie: true}},
	}
	for _, c := range cases {
		var m ClientMessage
		if err := DecodeClient([]byte(c.in), &m, 5000); err != nil {
			t.Errorf("DecodeClient(%s): %v", c.in, err)
			continue
		}
		if !sameClientMessage(&m, &c.want) {
			t.Errorf("DecodeClient(%s) = %+v, want %+v", c.in, m, c.want)
		}
	}
}

// sameClientMessage compares every field, a nil and an empty slice alike.
func sameClientMessage(a, b *ClientMessage) bool {
	return a.UserID == b.UserID && a.HasUserID == b.HasUserID &&
		slices.Equal(a.Friends, b.Friends) && a.HasFriends == b.HasFriends &&
		a.Online == b.Online && a.HasOnline == b.HasOnline &&
		bytes.Equal(a.Token, b.Token) && a.HasToken == b.HasToken &&
		a.Status == b.Status && a.HasStatus == b.HasStatus &&
		bytes.Equal(a.Text, b.Text) && a.HasText == b.HasText &&
		bytes.Equal(a.Cookie, b.Cookie) && a.HasCookie == b.HasCookie
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

	// v2: token.
	{"token number", `{"token": 1}`, CodeBadToken},
	{"token null", `{"token": null}`, CodeBadToken},
	{"token object", `{"token": {"jwt": "a.b.c"}}`, CodeBadToken},
	{"token array", `{"token": ["a.b.c"]}`, CodeBadToken},
	{"token bool", `{"token": true}`, CodeBadToken},
	{"token empty", `{"token": ""}`, CodeBadToken},
	{"token space", `{"token": "Bearer a.b.c"}`, CodeBadToken},
	{"token escaped space", `{"token": "a\u0020b"}`, CodeBadToken},
	{"token escaped slash", `{"token": "a\/b"}`, CodeBadToken},
	{"token padding", `{"token": "a.b.c="}`, CodeBadToken},
	{"token non-ascii", `{"token": "a.é.c"}`, CodeBadToken},
	{"token surrogate pair", `{"token": "\ud83d\ude00"}`, CodeBadToken},
	{"token invalid utf8", "{\"token\": \"a\xffb\"}", CodeBadToken},
	{"token too long", `{"token": "` + strings.Repeat("t", MaxTokenLen+1) + `"}`, CodeTokenTooLong},
	{"token too long by an escape", `{"token": "` + strings.Repeat("t", MaxTokenLen) + `\u0041"}`, CodeTokenTooLong},
	{"token unterminated", `{"token": "abc`, CodeBadJSON},
	{"token bad escape", `{"token": "a\qb"}`, CodeBadJSON},
	{"duplicate token", `{"token": "a", "token": "a"}`, CodeDuplicateKey},

	// v2: status.
	{"status unknown", `{"status": "busy"}`, CodeBadStatus},
	{"status capitalised", `{"status": "Away"}`, CodeBadStatus},
	{"status padded", `{"status": "away "}`, CodeBadStatus},
	{"status empty", `{"status": ""}`, CodeBadStatus},
	{"status long", `{"status": "invisiblex"}`, CodeBadStatus},
	{"status nul", `{"status": "away\u0000"}`, CodeBadStatus},
	{"status null", `{"status": null}`, CodeBadStatus},
	{"status number", `{"status": 1}`, CodeBadStatus},
	{"status bool", `{"status": true}`, CodeBadStatus},
	{"status array", `{"status": ["away"]}`, CodeBadStatus},
	{"status object", `{"status": {"away": true}}`, CodeBadStatus},
	{"status unterminated", `{"status": "aw`, CodeBadJSON},
	{"duplicate status", `{"status": "away", "status": "dnd"}`, CodeDuplicateKey},

	// v2: text.
	{"text without status", `{"text": "hi"}`, CodeBadStatus},
	{"text null without status", `{"user_id": 1, "text": null}`, CodeBadStatus},
	{"text number", `{"status": "away", "text": 1}`, CodeBadStatus},
	{"text bool", `{"status": "away", "text": false}`, CodeBadStatus},
	{"text array", `{"status": "away", "text": ["hi"]}`, CodeBadStatus},
	{"text object", `{"status": "away", "text": {}}`, CodeBadStatus},
	{"text too long ascii", `{"status": "away", "text": "` + strings.Repeat("a", MaxStatusText+1) + `"}`, CodeBadStatus},
	{"text too long 2-byte", `{"status": "away", "text": "` + strings.Repeat("é", MaxStatusText+1) + `"}`, CodeBadStatus},
	{"text too long 4-byte", `{"status": "away", "text": "` + strings.Repeat("😀", MaxStatusText+1) + `"}`, CodeBadStatus},
	{"text too long escaped", `{"status": "away", "text": "` + strings.Repeat(`\u0061`, MaxStatusText+1) + `"}`, CodeBadStatus},
	{"text newline escape", `{"status": "away", "text": "a\nb"}`, CodeBadStatus},
	{"text tab escape", `{"status": "away", "text": "a\tb"}`, CodeBadStatus},
	{"text nul escape", `{"status": "away", "text": "\u0000"}`, CodeBadStatus},
	{"text raw tab", "{\"status\": \"away\", \"text\": \"a\tb\"}", CodeBadStatus},
	{"text raw newline", "{\"status\": \"away\", \"text\": \"a\nb\"}", CodeBadStatus},
	{"text DEL", `{"status": "away", "text": "a\u007f"}`, CodeBadStatus},
	{"text raw DEL", "{\"status\": \"away\", \"text\": \"a\x7f\"}", CodeBadStatus},
	{"text C1 NEL", `{"status": "away", "text": "a\u0085"}`, CodeBadStatus},
	{"text raw C1", "{\"status\": \"away\", \"text\": \"a\u0080\"}", CodeBadStatus},
	{"text C1 last", `{"status": "away", "text": "\u009f"}`, CodeBadStatus},
	{"text line separator", `{"status": "away", "text": "a\u2028b"}`, CodeBadStatus},
	{"text raw paragraph separator", "{\"status\": \"away\", \"text\": \"a\u2029b\"}", CodeBadStatus},
	{"text LRE", `{"status": "away", "text": "\u202a"}`, CodeBadStatus},
	{"text RLO", "{\"status\": \"away\", \"text\": \"evil\u202egnp.exe\"}", CodeBadStatus},
	{"text LRI", `{"status": "away", "text": "\u2066"}`, CodeBadStatus},
	{"text PDI", `{"status": "away", "text": "\u2069"}`, CodeBadStatus},
	{"text lone high surrogate", `{"status": "away", "text": "\ud83d"}`, CodeBadStatus},
	{"text lone low surrogate", `{"status": "away", "text": "\ude00"}`, CodeBadStatus},
	{"text high surrogate then letter", `{"status": "away", "text": "\ud83dx"}`, CodeBadStatus},
	{"text two high surrogates", `{"status": "away", "text": "\ud83d\ud83d"}`, CodeBadStatus},
	{"text invalid utf8", "{\"status\": \"away\", \"text\": \"a\xffb\"}", CodeBadStatus},
	{"text truncated utf8", "{\"status\": \"away\", \"text\": \"\xc3\"}", CodeBadStatus},
	{"text utf8 surrogate", "{\"status\": \"away\", \"text\": \"\xed\xa0\x80\"}", CodeBadStatus},
	{"text overlong utf8", "{\"status\": \"away\", \"text\": \"\xc0\xaf\"}", CodeBadStatus},
	{"text bad escape", `{"status": "away", "text": "\x41"}`, CodeBadJSON},
	{"text short escape", `{"status": "away", "text": "\u00"}`, CodeBadJSON},
	{"text unterminated", `{"status": "away", "text": "abc`, CodeBadJSON},
	{"duplicate text", `{"status": "away", "text": "a", "text": "b"}`, CodeDuplicateKey},
	{"duplicate text null", `{"status": "away", "text": null, "text": null}`, CodeDuplicateKey},

	// v2: cookie.
	{"cookie number", `{"cookie": 1}`, CodeBadCookie},
	{"cookie null", `{"cookie": null}`, CodeBadCookie},
	{"cookie empty", `{"cookie": ""}`, CodeBadCookie},
	{"cookie plus", `{"cookie": "a+b"}`, CodeBadCookie},
	{"cookie slash", `{"cookie": "a/b"}`, CodeBadCookie},
	{"cookie dot", `{"cookie": "a.b"}`, CodeBadCookie},
	{"cookie too long", `{"cookie": "` + strings.Repeat("c", MaxCookieLen+1) + `"}`, CodeBadCookie},
	{"duplicate cookie", `{"cookie": "a", "cookie": "b"}`, CodeDuplicateKey},
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

// fuzzMaxFriends is small so that the fuzzer reaches the limit.
const fuzzMaxFriends = 8

// FuzzDecodeClient checks that the decoder never panics, that its errors are
// complete, and that it agrees with encoding/json, the reference: whatever we
// accept, encoding/json accepts and decodes to the same fields, and whatever
// encoding/json accepts and we refuse is one of our deliberate strictnesses.
// Those, each checked against its cause by explained:
//
//   - a known field twice (duplicate_key): encoding/json keeps the last.
//   - invalid UTF-8 anywhere (invalid_utf8): encoding/json puts U+FFFD.
//   - null for user_id, friends, an entry of friends or online
//     (bad_user_id, bad_friends, bad_online): encoding/json leaves the
//     zero value, which for an id is no user at all.
//   - user_id or a friend 0 or negative: encoding/json takes any int64.
//   - more than the limit of friends (too_many_friends).
//   - nesting deeper than maxDepth in a skipped value (bad_json).
//   - a top-level null (bad_json): json.Unmarshal into a map takes it as an
//     empty message; the contract wants an object, and so does stdDecode.
//   - field names are exact: encoding/json into a struct would also take
//     "USER_ID"; stdDecode compares names exactly, as the contract does.
//   - token and cookie: null, "", a character outside their alphabets
//     (bad_token, bad_cookie), longer than MaxTokenLen (token_too_long) or
//     MaxCookieLen (bad_cookie); encoding/json takes any string.
//   - status: null or a name that is not a Status (bad_status).
//   - text: one that CheckStatusText refuses, or beside no status
//     (bad_status); and text that encoding/json turned into U+FFFD (it does
//     so for invalid UTF-8 and for a lone surrogate escape, which we refuse).
//     A null text is no text to both.
//
// Where we look stricter but are not, encoding/json decoding into int64
// refuses the same thing: user_id 2^63 and above, 1.0, 1.5, 1e2 are errors
// for both, so they need no exception here.
func FuzzDecodeClient(f *testing.F) {
	for _, s := range []string{
		`{"user_id": 1, "friends": [2, 3, 4]}`, `{"friends": [2, 5]}`, `{"online": false}`,
		`{"user_id": 2, "online": false}`, `{}`, `{"user_id": 1, "extra": {"a": [1, "x"]}}`,
		// One of each deliberate strictness, and each look-alike that
		// encoding/json refuses too.
		`{"user_id": null}`, `{"friends": null}`, `{"friends": [1, null]}`, `{"online": null}`, `null`,
		`{"user_id": "x", "user_id": 1}`, `{"USER_ID": 1}`, `{"user\u005fid": 1, "friends": [2]}`,
		`{"user_id": 1e2}`, `{"user_id": -0}`, `{"friends": [1, 2, 3, 4, 5, 6, 7, 8, 9]}`,
		"{\"x\": \"\xed\xa0\x80\", \"user_id\": 1}", `{"x": "\ud800", "user_id": 1}`,
		// v2 fields, and their look-alikes.
		`{"token": "a.b.c", "status": "away", "text": "hi", "cookie": "Zz-_="}`, `{"status": "dnd", "text": null}`,
		`{"status": "online", "text": "\ud83d\ude00\u00e9"}`, `{"status": "away", "text": "\ud83d"}`,
		`{"TOKEN": 1, "Status": 2, "TEXT": 3, "Cookie": 4}`, `{"t\u006fken": "x", "stat\u0075s": "away"}`,
	} {
		f.Add([]byte(s))
	}
	for _, c := range badClientMessages {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m ClientMessage
		err := DecodeClient(data, &m, fuzzMaxFriends)
		ref, refErr := stdDecode(data)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code == "" || pe.Message == "" {
				t.Fatalf("error is not a complete *ProtocolError: %v", err)
			}
			if refErr == nil && !explained(pe.Code, data, ref) {
				t.Fatalf("refused %q (%v), which encoding/json accepts as %+v", data, err, ref)
			}
			return
		}
		if refErr != nil {
			t.Fatalf("accepted %q as %+v, which encoding/json refuses: %v", data, m, refErr)
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted invalid UTF-8 %q", data)
		}
		for k, n := range ref.count {
			if n > 1 {
				t.Fatalf("accepted %q with %s %d times", data, k, n)
			}
		}
		for k, raw := range ref.raw {
			if string(raw) == "null" && k != "text" {
				t.Fatalf("accepted %q with %s null", data, k)
			}
		}
		want := ref.msg
		if !sameClientMessage(&m, &want) {
			t.Fatalf("%q: decoded %+v, encoding/json %+v", data, m, want)
		}
		if m.HasStatus && m.Status.String() != ref.status {
			t.Fatalf("%q: status %v, encoding/json %q", data, m.Status, ref.status)
		}
		if err := CheckStatusText(string(m.Text)); err != nil || m.HasText && !m.HasStatus {
			t.Fatalf("%q: accepted text %q (status %v): %v", data, m.Text, m.HasStatus, err)
		}
		if m.HasToken && (len(m.Token) == 0 || len(m.Token) > MaxTokenLen || !inSet(m.Token, tokenChars)) ||
			m.HasCookie && (len(m.Cookie) == 0 || len(m.Cookie) > MaxCookieLen || !inSet(m.Cookie, cookieChars)) {
			t.Fatalf("%q: accepted token %q or cookie %q", data, m.Token, m.Cookie)
		}
		if m.HasUserID && m.UserID <= 0 || slices.ContainsFunc(m.Friends, func(id int64) bool { return id <= 0 }) {
			t.Fatalf("%q: accepted a user id that is not positive: %+v", data, m)
		}
		if len(m.Friends) > fuzzMaxFriends {
			t.Fatalf("%d friends accepted", len(m.Friends))
		}
	})
}

func inSet(b []byte, set *[256]bool) bool {
	for _, c := range b {
		if !set[c] {
			return false
		}
	}
	return true
}

// stdView is a message as encoding/json reads it.
type stdView struct {
	msg    ClientMessage              // the last of each known field, as encoding/json keeps it
	status string                     // status as encoding/json reads it, which msg.Status cannot hold
	raw    map[string]json.RawMessage // the same, undecoded
	count  map[string]int             // how often each known field appears
	depth  int                        // deepest nesting of brackets
}

// stdDecode reads data with encoding/json: one object, its members walked
// with a json.Decoder so that repeats are seen, each known field decoded
// into the Go type the contract gives it.
func stdDecode(data []byte) (stdView, error) {
	v := stdView{raw: map[string]json.RawMessage{}, count: map[string]int{}}
	if !json.Valid(data) {
		return v, errors.New("not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return v, fmt.Errorf("not an object: %v %v", t, err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return v, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return v, err
		}
		switch k := t.(string); k {
		case "user_id", "friends", "online", "token", "status", "text", "cookie":
			v.raw[k] = raw
			v.count[k]++
		}
	}
	var err error
	if raw, ok := v.raw["user_id"]; ok {
		v.msg.HasUserID = true
		err = errors.Join(err, json.Unmarshal(raw, &v.msg.UserID))
	}
	if raw, ok := v.raw["friends"]; ok {
		v.msg.HasFriends = true
		err = errors.Join(err, json.Unmarshal(raw, &v.msg.Friends))
	}
	if raw, ok := v.raw["online"]; ok {
		v.msg.HasOnline = true
		err = errors.Join(err, json.Unmarshal(raw, &v.msg.Online))
	}
	str := func(k string, has *bool) []byte {
		raw, ok := v.raw[k]
		if !ok {
			return nil
		}
		*has = true
		var s string
		err = errors.Join(err, json.Unmarshal(raw, &s))
		return []byte(s)
	}
	v.msg.Token = str("token", &v.msg.HasToken)
	v.msg.Text = str("text", &v.msg.HasText)
	v.msg.Cookie = str("cookie", &v.msg.HasCookie)
	v.status = string(str("status", &v.msg.HasStatus))
	v.msg.Status, _ = ParseStatus(v.status)
	v.depth = bracketDepth(data)
	return v, err
}

// explained reports whether refusing data with code, though encoding/json
// accepts it as v, is one of the deliberate strictnesses FuzzDecodeClient
// lists.
func explained(code string, data []byte, v stdView) bool {
	for _, n := range v.count {
		if n > 1 {
			// We stop at the first problem, which may be in a repeat
			// encoding/json throws away; the repeat is the refusal.
			return true
		}
	}
	null := func(k string) bool { return string(v.raw[k]) == "null" }
	switch code {
	case CodeInvalidUTF8:
		return !utf8.Valid(data)
	case CodeBadUserID:
		return null("user_id") || v.msg.UserID <= 0
	case CodeBadFriends:
		// [null] decodes as [0] in encoding/json.
		return null("friends") || slices.ContainsFunc(v.msg.Friends, func(id int64) bool { return id <= 0 })
	case CodeBadOnline:
		return null("online")
	case CodeTooManyFriends:
		return len(v.msg.Friends) > fuzzMaxFriends
	case CodeBadToken:
		return null("token") || len(v.msg.Token) == 0 || !inSet(v.msg.Token, tokenChars)
	case CodeTokenTooLong:
		return len(v.msg.Token) > MaxTokenLen
	case CodeBadCookie:
		return null("cookie") || len(v.msg.Cookie) == 0 || len(v.msg.Cookie) > MaxCookieLen || !inSet(v.msg.Cookie, cookieChars)
	case CodeBadStatus:
		_, known := ParseStatus(v.status)
		return null("status") || v.msg.HasStatus && !known || v.msg.HasText && !v.msg.HasStatus ||
			CheckStatusText(string(v.msg.Text)) != nil || bytes.ContainsRune(v.msg.Text, utf8.RuneError)
	case CodeBadJSON:
		return v.depth > maxDepth
	}
	return false
}

// bracketDepth is the deepest nesting of [ and { in valid JSON data.
func bracketDepth(data []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
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

// BenchmarkDecodeHelloV2 is a hello with a token of a typical size (an
// HS256 JWT with sub, exp, iat and iss) and a status: no allocation once the
// ClientMessage's buffers have grown.
func BenchmarkDecodeHelloV2(b *testing.B) {
	token := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + strings.Repeat("eyJzdWIiOiIxMjM0NTYi", 8) + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	line := []byte(`{"token": "` + token + `", "friends": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "status": "away", "text": "in a meeting"}`)
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
	seen := time.Unix(1796230800, 0).UTC()
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

		// v2: rich presence and push.
		{AppendPresence(nil, id, Presence{Online: true, Status: StatusAway, Text: `in a "meeting"`}),
			ServerMessage{UserID: &id, Online: &on, Status: "away", Text: `in a "meeting"`}, ServerState},
		{AppendPresence(nil, id, Presence{Online: true, Status: StatusDND}), ServerMessage{UserID: &id, Online: &on, Status: "dnd"}, ServerState},
		{AppendPresence(nil, id, Presence{LastSeen: 1796230800}), ServerMessage{UserID: &id, Online: &off, LastSeen: &seen}, ServerState},
		{AppendPush(nil, []byte(`{"a":[1,{"b":"é"}]}`)), ServerMessage{Push: []byte(`{"a":[1,{"b":"é"}]}`)}, ServerPush},
		{AppendPush(nil, []byte(`{"user_id":2,"online":true}`)), ServerMessage{Push: []byte(`{"user_id":2,"online":true}`)}, ServerPush},
		{[]byte(`{"push":[1]}`), ServerMessage{Push: []byte(`[1]`)}, ServerUnknown},
		{[]byte(`{"error":"kicked","push":{}}`), ServerMessage{Error: "kicked", Push: []byte(`{}`)}, ServerError},
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
		// And encoding/json reads what the Append functions write as
		// ServerMessage does.
		var std ServerMessage
		if err := json.Unmarshal(c.b, &std); err != nil || !reflect.DeepEqual(std, m) {
			t.Errorf("%s: encoding/json reads %+v, %v", c.b, std, err)
		}
	}
}

func TestServerMessagePresence(t *testing.T) {
	for _, c := range presenceGolden {
		var m ServerMessage
		if err := DecodeServer([]byte(c.want), &m); err != nil {
			t.Fatal(err)
		}
		if m.Kind() != ServerState || *m.UserID != c.id || m.Presence() != c.p {
			t.Errorf("%s: %+v reads as %+v, want %+v", c.want, m, m.Presence(), c.p)
		}
	}
	// A status a newer server invents reads as online.
	var m ServerMessage
	if err := DecodeServer([]byte(`{"user_id":2,"online":true,"status":"gaming"}`), &m); err != nil || m.Presence() != (Presence{Online: true}) {
		t.Errorf("unknown status: %+v %v", m.Presence(), err)
	}
}

// TestClientEncodersDecode: what the client-side encoders write, DecodeClient
// reads back as written.
func TestClientEncodersDecode(t *testing.T) {
	cases := []struct {
		b    []byte
		want ClientMessage
	}{
		{AppendHello(nil, 1, []int64{2, MaxUserID}), ClientMessage{UserID: 1, HasUserID: true, Friends: []int64{2, MaxUserID}, HasFriends: true}},
		{AppendHello(nil, 7, nil), ClientMessage{UserID: 7, HasUserID: true, Friends: []int64{}, HasFriends: true}},
		{AppendFriends(nil, []int64{3}), ClientMessage{Friends: []int64{3}, HasFriends: true}},
		{AppendFriends(nil, nil), ClientMessage{Friends: []int64{}, HasFriends: true}},
		{AppendLogout(nil), ClientMessage{HasOnline: true}},

		// v2.
		{AppendHelloWith(nil, Hello{UserID: 1, Friends: []int64{2}}), ClientMessage{UserID: 1, HasUserID: true, Friends: []int64{2}, HasFriends: true}},
		{AppendHelloWith(nil, Hello{Token: "a.b.c"}), ClientMessage{Token: []byte("a.b.c"), HasToken: true}},
		{AppendHelloWith(nil, Hello{Friends: []int64{}, Status: StatusInvisible}), ClientMessage{Friends: []int64{}, HasFriends: true, Status: StatusInvisible, HasStatus: true}},
		{AppendHelloWith(nil, Hello{UserID: 3, Friends: []int64{4}, Token: "t", Text: `"hi" é`, Cookie: "c-_="}),
			ClientMessage{UserID: 3, HasUserID: true, Friends: []int64{4}, HasFriends: true, Token: []byte("t"), HasToken: true,
				HasStatus: true, Text: []byte(`"hi" é`), HasText: true, Cookie: []byte("c-_="), HasCookie: true}},
		{AppendHelloWith(nil, Hello{}), ClientMessage{}},
		{AppendStatus(nil, StatusAway, "in a meeting"), ClientMessage{Status: StatusAway, HasStatus: true, Text: []byte("in a meeting"), HasText: true}},
		{AppendStatus(nil, StatusDND, ""), ClientMessage{Status: StatusDND, HasStatus: true}},
		{AppendStatus(nil, StatusOnline, ""), ClientMessage{HasStatus: true}},
		{AppendToken(nil, "x.y.z"), ClientMessage{Token: []byte("x.y.z"), HasToken: true}},
	}
	for _, c := range cases {
		var m ClientMessage
		if err := DecodeClient(c.b, &m, 5000); err != nil {
			t.Fatalf("%s: %v", c.b, err)
		}
		if !sameClientMessage(&m, &c.want) {
			t.Errorf("%s = %+v, want %+v", c.b, m, c.want)
		}
	}
	if got := string(AppendHello(nil, 1, []int64{2, 3})); got != `{"user_id":1,"friends":[2,3]}` {
		t.Errorf("AppendHello = %s", got)
	}
	if got, want := string(AppendHelloWith(nil, Hello{UserID: 1, Friends: []int64{2, 3}})), string(AppendHello(nil, 1, []int64{2, 3})); got != want {
		t.Errorf("AppendHelloWith = %s, AppendHello %s", got, want)
	}
	if got := string(AppendHelloWith(nil, Hello{UserID: 1, Token: "t", Status: StatusAway, Text: "x", Cookie: "c"})); got != `{"user_id":1,"token":"t","status":"away","text":"x","cookie":"c"}` {
		t.Errorf("AppendHelloWith = %s", got)
	}
}
