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
	a := transportSystem(t, testConfig, gateway.WSConfig{}, gateway.UDPConfig{})
	long := `{"user_id": 1, "x": "` + strings.Repeat("a", 300) + `"}`
	cases := append(messageCases(),
		messageCase{name: "line over limit", hello: long, code: shared.CodeTooLong, fatal: true},
		messageCase{name: "line over limit after hello", then: []string{long}, code: shared.CodeTooLong, fatal: true},
		messageCase{name: "invalid utf-8", hello: "{\"user_id\": 1, \"name\": \"\xff\xfe\"}", code: shared.CodeInvalidUTF8, fatal: true},
		messageCase{name: "no hello in time", hello: "", code: shared.CodeHelloTimeout, fatal: true},
	)
	dial := func(t *testing.T) badClient { return alotest.Dial(t, a.TCP) }
	line := func(c badClient, m string) {
		if m != "" {
			c.Send(m)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			watcher, _ := alotest.Connect(t, a.TCP, bystander, 1, 2, 3, barrier)
			runBadCase(t, a, watcher, dial, line, tc)
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
	subject := shared.MustSubjects("").Push(1)
	payload := []byte(`{"padding":"` + strings.Repeat("x", 200) + `"}`)
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
