package cli

import (
	"github.com/alo-presence/alo/internal/logtest"

	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// syncBuffer is a log destination for a handler called from NATS's
// callback goroutine while the test reads it; lines decodes its JSON lines.
type syncBuffer struct{ logtest.Buffer }

func (s *syncBuffer) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(s.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// After start, the server refusing a subject is logged with the subject and
// the server's reason, and a flood of refusals costs one line an interval,
// not one each.
func TestNATSPermissionViolationLogged(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		Users: []*server.User{{Username: "gw", Password: "pw", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Deny: []string{"alo.user.>"}},
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	var buf syncBuffer
	handler := natsErrorLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	var calls atomic.Int64
	opts := append(NATSOptions("test", Discard()), nats.UserInfo("gw", "pw"),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			handler(nc, sub, err)
			calls.Add(1)
		}))
	nc, err := nats.Connect(ns.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const n = 50
	for range n {
		if err := nc.Publish("alo.user.7", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d refusals reported", calls.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	lines := buf.lines("nats refused a subject")
	if len(lines) == 0 || len(lines) >= n {
		t.Fatalf("%d lines for %d refusals, want at least one and fewer than each", len(lines), n)
	}
	l := lines[0]
	if l["subject"] != "alo.user.7" || !strings.Contains(l["reason"].(string), "Permissions Violation for Publish") {
		t.Fatalf("line %v: want subject alo.user.7 and the server's reason", l)
	}
}
