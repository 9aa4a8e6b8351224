package presence_test

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
)

// With --last-seen-bucket, last seen survives a presence restart: a friend
// who left before it is reported offline with the same last_seen after it.
// Without a bucket, the restarted presence knows none (the control).
func TestLastSeenBucketSurvivesRestart(t *testing.T) {
	for _, bucket := range []string{"alo_last_seen", ""} {
		t.Run("bucket="+bucket, func(t *testing.T) {
			ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
				JetStream: true, StoreDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			ns.Start()
			if !ns.ReadyForConnections(alotest.Timeout) {
				t.Fatal("nats did not start")
			}
			t.Cleanup(ns.Shutdown)
			cfg := presence.Config{LastSeenBucket: bucket, Rebuild: -1}
			stop := alotest.Presence(t, ns, cfg)
			_, addr, _ := alotest.Gateway(t, ns, gateway.Config{})
			w, _ := alotest.Connect(t, addr, 1, 2)
			x, _ := alotest.Connect(t, addr, 2)
			w.ExpectState(2, true)
			x.Send(`{"online":false}`)
			leave := w.Next().Raw
			if !strings.Contains(leave, `"last_seen":"`) {
				t.Fatalf("leave %s without last_seen", leave)
			}
			stop()
			alotest.Presence(t, ns, cfg)
			u, _ := alotest.Connect(t, addr, 3)
			u.Send(`{"friends":[2]}`)
			got := u.Next().Raw
			want := leave
			if bucket == "" {
				want = `{"user_id":2,"online":false}`
			}
			if got != want {
				t.Fatalf("after the restart: %s, want %s", got, want)
			}
		})
	}
}
