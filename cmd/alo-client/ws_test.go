package main

import (
	"testing"

	"github.com/alo-presence/alo/internal/alotest"
)

// TestWebSocketAgainstRealGateway: a user on alo's WebSocket and a user on
// its TCP port see each other come and go.
func TestWebSocketAgainstRealGateway(t *testing.T) {
	clientBin := alotest.Binary(t, "alo-client")
	alo := alotest.Start(t, "alo", "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--udp", "")
	tcp, http := alo.Addr("clients"), alo.Addr("http")
	ws := "ws://" + http + "/ws"

	a := startUser(t, clientBin, ws, "--user", "1", "--friends", "2")
	a.out.waitLine(t, "ready session=")
	a.out.waitLine(t, "status live online= offline=2")
	b := startUser(t, clientBin, tcp, "--user", "2", "--friends", "1")
	b.out.waitLine(t, "online 1")
	a.out.waitLine(t, "online 2")
	a.send(t, "friends 2,3")
	a.out.waitLine(t, "status live online=2 offline=3")
	b.quit(t)
	a.out.waitLine(t, "offline 2")

	b = startUser(t, clientBin, ws, "--user", "2", "--friends", "1")
	b.out.waitLine(t, "online 1")
	a.out.waitLine(t, "online 2")
	a.quit(t)
	b.out.waitLine(t, "offline 1")
	b.quit(t)
}
