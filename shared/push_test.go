package shared

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

const testMaxPush = 64

var goodPushes = []string{
	`{}`,
	`{"a":1}`,
	`{"type":"chat","from":2,"text":"salut é 😀 \u2028 \n escaped","n":[1,2.5e3,-0,null,true,false,{}],"o":{"k":"v"}}`,
	`{ "spaced" : [ 1 , 2 ] }`,
	`{"lone surrogate escape":"\ud800"}`,
	`{"dup":1,"dup":2}`,
	`{"a":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`,
}

var badPushes = []struct{ name, in string }{
	{"empty", ``},
	{"brace", `{`},
	{"array", `[]`},
	{"string", `"x"`},
	{"number", `1`},
	{"null", `null`},
	{"leading space", ` {}`},
	{"trailing space", `{} `},
	{"two objects", `{}{}`},
	{"object and array", `{}[]`},
	{"trailing newline", "{}\n"},
	{"crlf", "{}\r\n"},
	{"newline inside", "{\"a\":\n1}"},
	{"carriage return inside", "{\"a\":\r1}"},
	{"raw newline in string", "{\"a\":\"x\ny\"}"},
	{"raw tab in string", "{\"a\":\"x\ty\"}"},
	{"invalid utf8 in string", "{\"a\":\"\xff\"}"},
	{"invalid utf8 in key", "{\"\xc3\x28\":1}"},
	{"utf8 surrogate", "{\"a\":\"\xed\xa0\x80\"}"},
	{"bad escape", `{"a":"\x"}`},
	{"leading zero", `{"a":01}`},
	{"trailing comma", `{"a":1,}`},
	{"unquoted key", `{a:1}`},
	{"missing value", `{"a":}`},
	{"too deep", `{"a":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `}`},
	{"too long", `{"a":"` + strings.Repeat("x", testMaxPush-7) + `"}`},
}

func TestValidPushPayload(t *testing.T) {
	for _, in := range goodPushes {
		if !ValidPushPayload([]byte(in), 1<<10) {
			t.Errorf("ValidPushPayload(%q) = false", in)
		}
	}
	for _, c := range badPushes {
		if ValidPushPayload([]byte(c.in), testMaxPush) {
			t.Errorf("%s: ValidPushPayload(%q) = true", c.name, c.in)
		}
	}
	exact := []byte(`{"a":"` + strings.Repeat("x", testMaxPush-8) + `"}`)
	if len(exact) != testMaxPush || !ValidPushPayload(exact, testMaxPush) || ValidPushPayload(exact, testMaxPush-1) {
		t.Errorf("the size cap is not exactly len ≤ max (%d bytes)", len(exact))
	}
}

func TestAppendPush(t *testing.T) {
	payload := []byte(`{"type":"chat","text":"é \"q\""}`)
	b := AppendPush([]byte("x"), payload)
	if want := `x{"push":{"type":"chat","text":"é \"q\""}}`; string(b) != want {
		t.Fatalf("AppendPush = %s, want %s", b, want)
	}
	b = b[1:]
	var m ServerMessage
	if err := DecodeServer(b, &m); err != nil || m.Kind() != ServerPush || !bytes.Equal(m.Push, payload) {
		t.Fatalf("DecodeServer(%s) = %+v kind %d, %v", b, m, m.Kind(), err)
	}
	var std struct{ Push json.RawMessage }
	if err := json.Unmarshal(b, &std); err != nil || !bytes.Equal(std.Push, payload) {
		t.Fatalf("encoding/json: %s, %v", std.Push, err)
	}
}

// FuzzValidPushPayload holds ValidPushPayload to its definition, written
// with encoding/json: an object alone, valid UTF-8, no CR or LF, within the
// size and depth caps; and what it accepts, a client reads back as a push.
func FuzzValidPushPayload(f *testing.F) {
	for _, s := range goodPushes {
		f.Add([]byte(s))
	}
	for _, c := range badPushes {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := ValidPushPayload(data, testMaxPush)
		want := len(data) <= testMaxPush && len(data) > 0 && data[0] == '{' && data[len(data)-1] == '}' &&
			json.Valid(data) && utf8.Valid(data) && !bytes.ContainsAny(data, "\r\n") &&
			bracketDepth(data) <= maxDepth+1
		if got != want {
			t.Fatalf("ValidPushPayload(%q) = %v, want %v", data, got, want)
		}
		if !got {
			return
		}
		b := AppendPush(nil, data)
		var m ServerMessage
		if err := DecodeServer(b, &m); err != nil || m.Kind() != ServerPush || !bytes.Equal(m.Push, data) {
			t.Fatalf("DecodeServer(%q) = %+v, %v", b, m, err)
		}
	})
}

// BenchmarkValidPushPayload compares ValidPushPayload with what it could
// have been, encoding/json.Valid and a UTF-8 check, on a typical payload and
// a large one.
func BenchmarkValidPushPayload(b *testing.B) {
	small := []byte(`{"type":"chat","from":123456,"text":"are you coming tonight? é","ts":1796230800}`)
	var big bytes.Buffer
	big.WriteString(`{"items":[`)
	for i := 0; big.Len() < 4000; i++ {
		if i > 0 {
			big.WriteByte(',')
		}
		big.WriteString(`{"id":12345,"name":"item é","tags":["a","b"],"ok":true}`)
	}
	big.WriteString(`]}`)
	for _, c := range []struct {
		name string
		data []byte
	}{{"small", small}, {"4KiB", big.Bytes()}} {
		b.Run("ValidPushPayload/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				if !ValidPushPayload(c.data, 1<<16) {
					b.Fatal("refused")
				}
			}
		})
		b.Run("json.Valid/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				if !json.Valid(c.data) || !utf8.Valid(c.data) {
					b.Fatal("refused")
				}
			}
		})
	}
}
