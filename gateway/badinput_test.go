package gateway_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// bystander is a user that watches every user the bad clients claim to be,
// and barrier its marker: its arrival proves nothing was sent before it.
const (
	bystander = 500
	barrier   = 501
)

// testConfig has small limits so each is quick to reach.
var testConfig = gateway.Config{
	MaxMessageBytes: 256,
	MaxFriends:      4,
	HelloTimeout:    300 * time.Millisecond,
	RateLimit:       50,
	RateBurst:       20,
}

func TestBadInput(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(t, ns, testConfig)
	long := `{"user_id": 1, "x": "` + strings.Repeat("a", 300) + `"}`

	cases := []struct {
		name  string
		hello string   // sent first; "" sends nothing
		then  []string // sent after a valid hello as user 1
		code  string
		fatal bool
	}{
		{name: "not json", hello: `hello`, code: shared.CodeBadJSON, fatal: true},
		{name: "empty object", hello: `{}`, code: shared.CodeHelloRequired, fatal: true},
		{name: "user_id missing", hello: `{"friends": [2]}`, code: shared.CodeHelloRequired, fatal: true},
		{name: "user_id 0", hello: `{"user_id": 0}`, code: shared.CodeBadUserID, fatal: true},
		{name: "user_id negative", hello: `{"user_id": -1}`, code: shared.CodeBadUserID, fatal: true},
		{name: "user_id fractional", hello: `{"user_id": 1.5}`, code: shared.CodeBadUserID, fatal: true},
		{name: "user_id string", hello: `{"user_id": "1"}`, code: shared.CodeBadUserID, fatal: true},
		{name: "user_id 2^63", hello: `{"user_id": 9223372036854775808}`, code: shared.CodeBadUserID, fatal: true},
		{name: "user_id 1e400", hello: `{"user_id": 1e400}`, code: shared.CodeBadUserID, fatal: true},
		{name: "friends not array", hello: `{"user_id": 1, "friends": 2}`, code: shared.CodeBadFriends, fatal: true},
		{name: "friends non-integers", hello: `{"user_id": 1, "friends": [2, "x"]}`, code: shared.CodeBadFriends, fatal: true},
		{name: "duplicate keys", hello: `{"user_id": 1, "user_id": 2}`, code: shared.CodeDuplicateKey, fatal: true},
		{name: "line over limit", hello: long, code: shared.CodeTooLong, fatal: true},
		{name: "too many friends", hello: `{"user_id": 1, "friends": [2, 3, 4, 5, 6]}`, code: shared.CodeTooManyFriends, fatal: true},
		{name: "invalid utf-8", hello: "{\"user_id\": 1, \"name\": \"\xff\xfe\"}", code: shared.CodeInvalidUTF8, fatal: true},
		{name: "logout before hello", hello: `{"user_id": 1, "online": false}`, code: shared.CodeHelloRequired, fatal: true},
		{name: "no hello in time", hello: "", code: shared.CodeHelloTimeout, fatal: true},
		{name: "second hello for another user", then: []string{`{"user_id": 2, "friends": []}`}, code: shared.CodeUserMismatch, fatal: true},
		{name: "line over limit after hello", then: []string{long}, code: shared.CodeTooLong, fatal: true},
		{name: "junk after hello", then: []string{`{"friends": [2,`}, code: shared.CodeBadJSON},
		{name: "bad friends after hello", then: []string{`{"friends": [-2]}`}, code: shared.CodeBadFriends},
		{name: "too many friends after hello", then: []string{`{"friends": [2, 3, 4, 5, 6]}`}, code: shared.CodeTooManyFriends},
		{name: "flood", then: repeat(`{}`, 200), code: shared.CodeRateLimited, fatal: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			watcher, _ := alotest.Connect(t, addr, bystander, 1, 2, 3, barrier)
			c := alotest.Dial(t, addr)
			if tc.then == nil {
				if tc.hello != "" {
					c.Send(tc.hello)
				}
			} else {
				// A valid session that then misbehaves: its own online and
				// offline are expected; nothing else.
				c.Send(alotest.Hello(1))
				c.AwaitReady()
				watcher.ExpectState(1, true)
				c.Send(strings.Join(tc.then, "\n"))
			}
			c.ExpectError(tc.code)
			if tc.fatal {
				c.ExpectClosed()
				if tc.then != nil {
					watcher.ExpectState(1, false)
				}
			} else {
				// The session goes on, unchanged.
				c.Send(`{"online": false}`)
				c.ExpectClosed()
				watcher.ExpectState(1, false)
			}
			// Nobody else heard anything, and the gateway still serves.
			b, _ := alotest.Connect(t, addr, barrier)
			watcher.ExpectState(barrier, true)
			b.Close()
			watcher.ExpectState(barrier, false)
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// A client that stops reading is disconnected when its queue fills, and
// nobody else is slowed or affected.
func TestSlowClientIsDisconnected(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{MaxQueueBytes: 64 << 10})
	watcher, _ := alotest.Connect(t, addr, bystander, 1, barrier)

	// The slow client: a tiny receive buffer, and it never reads.
	conn, err := net.DialTimeout("tcp", addr, alotest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := fmt.Fprintln(conn, alotest.Hello(1)); err != nil {
		t.Fatal(err)
	}
	watcher.ExpectState(1, true)

	nc := alotest.Conn(t, ns)
	subject := shared.MustSubjects("").User(1)
	payload := []byte(`{"user_id": 77, "online": true, "padding": "` + strings.Repeat("x", 200) + `"}`)
	// Far more than the queue and the socket buffers hold; bounded.
	for i := 0; i < 100_000; i++ {
		if err := nc.Publish(subject, payload); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			nc.Flush()
		}
	}
	nc.Flush()
	watcher.ExpectState(1, false) // the slow client was cut off
	b, _ := alotest.Connect(t, addr, barrier)
	watcher.ExpectState(barrier, true)
	b.Close()
	watcher.ExpectState(barrier, false)
}
