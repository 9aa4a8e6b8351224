package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alo-presence/alo/client"
	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
)

// The Client over WebSocket against a real gateway: sign in, hear a TCP
// friend come and go, update the friend list, log out.
func TestWebSocketAgainstGateway(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, a, _ := alotest.GatewayAll(t, ns, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{})

	r := start(t, client.Config{Addr: a.WS, UserID: 1, Friends: []int64{2}})
	r.next(t, client.EventConnected)
	r.next(t, client.EventReady)

	friend, snap := alotest.Connect(t, a.TCP, 2, 1)
	if len(snap) != 1 || snap[0] != 1 {
		t.Fatalf("TCP friend's snapshot %v, want [1]", snap)
	}
	if ev := r.next(t, client.EventPresence); ev.UserID != 2 || !ev.Online {
		t.Fatalf("got %+v, want 2 online", ev)
	}
	if _, err := r.SetFriends([]int64{2, 3}); err != nil {
		t.Fatal(err)
	}
	alotest.Connect(t, a.TCP, 3)
	// The update may be answered "3 offline" first, if it reached presence
	// before 3 did.
	ev := r.next(t, client.EventPresence)
	if ev.UserID == 3 && !ev.Online {
		ev = r.next(t, client.EventPresence)
	}
	if ev.UserID != 3 || !ev.Online {
		t.Fatalf("got %+v, want 3 online", ev)
	}
	friend.Close()
	if ev := r.next(t, client.EventPresence); ev.UserID != 2 || ev.Online {
		t.Fatalf("got %+v, want 2 offline", ev)
	}

	if err := r.Logout(); err != nil {
		t.Fatal(err)
	}
	if err := r.wait(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// Dial picks WebSocket for ws:// and refuses schemes it does not know.
func TestDialSchemes(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, a, _ := alotest.GatewayAll(t, ns, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{})
	for _, addr := range []string{a.TCP, "tcp://" + a.TCP, a.WS} {
		c, err := client.Dial(context.Background(), addr)
		if err != nil {
			t.Fatalf("Dial %s: %v", addr, err)
		}
		if err := c.WriteMessage([]byte(`{"user_id": 5}`)); err != nil {
			t.Fatalf("%s: write: %v", addr, err)
		}
		if m, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(m), `{"ready":true,`) {
			t.Fatalf("%s: read %q, %v", addr, m, err)
		}
		c.Close()
	}
	if _, err := client.Dial(context.Background(), "quic://"+a.TCP); !errors.Is(err, client.ErrNoTransport) {
		t.Fatalf("quic://: %v, want ErrNoTransport", err)
	}
}
