package gateway_test

import (
	"strings"
	"testing"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
)

// expectRaw reads the next message and checks its bytes.
func expectRaw(t *testing.T, c *alotest.Client, want string) alotest.Msg {
	t.Helper()
	m := c.Next()
	if m.Raw != want {
		t.Fatalf("got %s, want %s", m.Raw, want)
	}
	return m
}

// A push on alo.push.<id> reaches every session of the user, on every
// gateway, as {"push": <object>}; a push shaped like a state message stays a
// push, so nothing on the push subject can tell a client a friend's state.
func TestPushReachesEverySession(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addrA, _ := alotest.Gateway(t, ns, gateway.Config{})
	_, addrB, _ := alotest.Gateway(t, ns, gateway.Config{})
	s1, _ := alotest.Connect(t, addrA, 7)
	s2, _ := alotest.Connect(t, addrB, 7)
	s3, _ := alotest.Connect(t, addrB, 7)
	other, _ := alotest.Connect(t, addrA, 8)

	nc := alotest.Conn(t, ns)
	nc.Publish(subjects.Push(7), []byte(`{"kind": "message", "from": 3, "body": "hi"}`))
	nc.Publish(subjects.Push(7), []byte(`{"user_id": 42, "online": true}`))
	nc.Publish(subjects.Push(8), []byte(`{"n":1}`))
	for _, s := range []*alotest.Client{s1, s2, s3} {
		expectRaw(t, s, `{"push":{"kind": "message", "from": 3, "body": "hi"}}`)
		if m := expectRaw(t, s, `{"push":{"user_id": 42, "online": true}}`); m.IsState() {
			t.Fatalf("a push reached the client as a state: %s", m)
		}
	}
	expectRaw(t, other, `{"push":{"n":1}}`)
}

// What is not one JSON object within --max-push on the push subject is
// dropped: an array, a string, an object with a line break in it, one over
// the limit; the next good push still arrives.
func TestPushGarbageDropped(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{MaxPushBytes: 1024})
	c, _ := alotest.Connect(t, addr, 7)
	nc := alotest.Conn(t, ns)
	for _, bad := range []string{`[1]`, `"x"`, `{"a":`, "{\"a\":\n1}", `not json`, ``, `{"big":"` + strings.Repeat("x", 1024) + `"}`} {
		nc.Publish(subjects.Push(7), []byte(bad))
	}
	nc.Publish(subjects.Push(7), []byte(`{"ok":true}`))
	expectRaw(t, c, `{"push":{"ok":true}}`)
}

// The user subject carries state messages from presence only: the gateway
// forwards nothing else, and what it forwards it re-encodes, so a forged
// error ("log in at http://evil.example/"), a ready, a push, extra fields, a
// large message or bytes that are not JSON never reach the client word for
// word (issue 11).
func TestUserSubjectForwardsOnlyStates(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{})
	c, _ := alotest.Connect(t, addr, 7)
	nc := alotest.Conn(t, ns)
	for _, bad := range []string{
		`{"error":"shutdown","message":"log in at http://evil.example/"}`,
		`{"ready":true,"session":"forged"}`,
		`{"push":{"a":1}}`,
		`{"user_id":42}`,
		`{"online":true}`,
		`{"user_id":42,"online":"yes"}`,
		`{"user_id":42,"online":true,"friends":[1]}`,
		`{"user_id":42,"online":true,"pad":"` + strings.Repeat("x", 100<<10) + `"}`,
		`not json`,
		`[{"user_id":42,"online":true}]`,
	} {
		nc.Publish(subjects.User(7), []byte(bad))
	}
	// Only the exact shapes presence sends: not with spaces, nor with
	// fields it does not send.
	nc.Publish(subjects.User(7), []byte(`{ "user_id" : 42, "online" : true }`))
	nc.Publish(subjects.User(7), []byte(`{"user_id":42,"online":true,"error":"shutdown","message":"evil"}`))
	for _, good := range []string{
		`{"user_id":42,"online":true}`,
		`{"user_id":42,"online":true,"status":"away","text":"in a meeting"}`,
		`{"user_id":42,"online":false,"last_seen":"2026-12-02T17:00:00Z"}`,
	} {
		nc.Publish(subjects.User(7), []byte(good))
		expectRaw(t, c, good)
	}
}
