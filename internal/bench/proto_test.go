package bench

import "testing"

func TestParseServer(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ServerMsg
	}{
		{`{"user_id":2,"online":true}`, ServerMsg{Kind: MsgState, UserID: 2, Online: true}},
		{` { "online" : false , "user_id" : 9223372036854775807 } `, ServerMsg{Kind: MsgState, UserID: 1<<63 - 1}},
		{`{"ready":true,"session":"g1-42"}`, ServerMsg{Kind: MsgReady, Session: "g1-42"}},
		{`{"error":"bad_json","message":"a \"quoted\" word"}`, ServerMsg{Kind: MsgError, Code: "bad_json", Text: `a \"quoted\" word`}},
		{`{"user_id":2,"online":true,"extra":{"a":[1,2,{"b":null}]},"s":"x"}`, ServerMsg{Kind: MsgState, UserID: 2, Online: true}},
		{`{"online":true}`, ServerMsg{Kind: MsgUnknown, Online: true}},
		{`{}`, ServerMsg{}},
	} {
		var m ServerMsg
		if err := ParseServer([]byte(c.in), &m); err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if m != c.want {
			t.Errorf("%s: got %+v, want %+v", c.in, m, c.want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"user_id":}`, `{"user_id":1.5,"online":true}`, `{"online":tru}`, `{"a":1}x`, `{"a":[1,2}`, `{"a"`, `{"a":"x}`} {
		var m ServerMsg
		if err := ParseServer([]byte(bad), &m); err == nil {
			t.Errorf("%q parsed as %+v", bad, m)
		}
	}
}

func FuzzParseServer(f *testing.F) {
	f.Add([]byte(`{"user_id":2,"online":true}`))
	f.Add([]byte(`{"ready":true,"session":"s"}`))
	f.Add([]byte(`{"a":[[[[{}]]]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m ServerMsg
		_ = ParseServer(b, &m) // must not panic
	})
}

func TestAppendHello(t *testing.T) {
	got := string(AppendHello(nil, 7, []int64{1, 22}))
	if got != "{\"user_id\":7,\"friends\":[1,22]}\n" {
		t.Fatalf("hello %q", got)
	}
	if got := string(AppendHello(nil, 7, nil)); got != "{\"user_id\":7,\"friends\":[]}\n" {
		t.Fatalf("hello %q", got)
	}
}
