package client

import (
	"testing"
	"time"

	"github.com/alo-presence/alo/shared"
)

func TestDecodeServer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Event
	}{
		{`{"user_id":2,"online":true}`, Event{Kind: EventPresence, UserID: 2, Online: true}},
		{`{"online":false,"user_id":9223372036854775807}`, Event{Kind: EventPresence, UserID: 9223372036854775807}},
		{`{"ready":true,"session":"abc"}`, Event{Kind: EventReady, Session: "abc"}},
		{`{"error":"bad_hello","message":"user_id must be positive"}`, Event{Kind: EventError, Code: "bad_hello", Message: "user_id must be positive"}},
		{`{"error":"x","user_id":2,"online":true}`, Event{Kind: EventError, Code: "x"}},
		// The seed's form names nobody.
		{`{"online":true}`, Event{Kind: EventUnknown, Raw: `{"online":true}`}},
		{`{"user_id":0,"online":true}`, Event{Kind: EventUnknown, Raw: `{"user_id":0,"online":true}`}},
		{`{"ready":false}`, Event{Kind: EventUnknown, Raw: `{"ready":false}`}},
		{`{}`, Event{Kind: EventUnknown, Raw: `{}`}},
	} {
		got := decodeServer([]byte(tc.in))
		if got != tc.want {
			t.Errorf("decodeServer(%s) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{`not json`, `[1]`, `{"user_id":"2","online":true}`, `{"user_id":1.5,"online":true}`, `{"user_id":99999999999999999999,"online":true}`} {
		if got := decodeServer([]byte(in)); got.Kind != EventUnknown || got.Err == nil || got.Raw != in {
			t.Errorf("decodeServer(%s) = %+v, want EventUnknown with Err", in, got)
		}
	}
}

func FuzzDecodeServer(f *testing.F) {
	for _, s := range []string{`{"user_id":2,"online":true}`, `{"ready":true,"session":"s"}`, `{"error":"e","message":"m"}`, `{`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev := decodeServer(data)
		if ev.Kind == EventPresence && ev.UserID <= 0 {
			t.Fatalf("presence for user %d", ev.UserID)
		}
	})
}

func TestBackoffBounds(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	for n, max := range map[int]time.Duration{1: lo, 2: 2 * lo, 3: 4 * lo, 4: 8 * lo, 5: hi, 60: hi, 1 << 30: hi} {
		for range 100 {
			if d := backoff(n, lo, hi); d < max/2 || d >= max {
				t.Fatalf("backoff(%d) = %v, want [%v, %v)", n, d, max/2, max)
			}
		}
	}
}

// TestAgainstServerCodec checks the client against the gateway's own codec
// in shared/: what the server sends, the client decodes as meant. (What the
// client sends is shared's Append functions, tested there.)
func TestAgainstServerCodec(t *testing.T) {
	for _, tc := range []struct {
		msg  []byte
		want Event
	}{
		{shared.AppendState(nil, 2, true), Event{Kind: EventPresence, UserID: 2, Online: true}},
		{shared.AppendState(nil, shared.MaxUserID, false), Event{Kind: EventPresence, UserID: shared.MaxUserID}},
		{shared.AppendReady(nil, "gw1-42"), Event{Kind: EventReady, Session: "gw1-42"}},
		{shared.AppendError(nil, shared.CodeShutdown, "bye \"now\""), Event{Kind: EventError, Code: shared.CodeShutdown, Message: `bye "now"`}},
	} {
		if got := decodeServer(tc.msg); got != tc.want {
			t.Errorf("decodeServer(%s) = %+v, want %+v", tc.msg, got, tc.want)
		}
	}
}

func TestPermanent(t *testing.T) {
	for code, want := range map[string]bool{
		shared.CodeTooManyFriends: true,
		shared.CodeBadUserID:      true,
		shared.CodeShutdown:       false,
		shared.CodeUnavailable:    false,
		shared.CodeRateLimited:    false,
		shared.CodeHelloTimeout:   false,
		"something_new":           false,
	} {
		if got := permanent(code); got != want {
			t.Errorf("permanent(%q) = %v, want %v", code, got, want)
		}
	}
}
