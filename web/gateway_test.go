package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/alo-presence/alo/internal/alotest"

	"github.com/alo-presence/alo/client"
	"github.com/alo-presence/alo/client/clienttest"
	"github.com/alo-presence/alo/internal/cdp"
)

func TestMain(m *testing.M) { alotest.Main(m) }

// startRealALO starts cmd/alo on loopback and returns its client TCP and
// HTTP addresses.
func startRealALO(t *testing.T) (tcpAddr, httpAddr string) {
	t.Helper()
	p := alotest.Start(t, "alo", "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--udp", "")
	return p.Addr("clients"), p.Addr("http")
}

// TestPageAgainstRealGateway signs in on the page served by the real alo
// over its real /ws, while a TCP client plays the friend: the page and the
// TCP client must see each other come and go.
func TestPageAgainstRealGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs alo")
	}
	tcpAddr, httpAddr := startRealALO(t)
	b := cdp.ForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	c := openPage(t, ctx, b, "http://"+httpAddr+"/?user=1&friends=2&connect=1", 960, 900)
	c.waitFor(status("live"))
	c.waitFor(offline("2"))

	// User 2 signs in over TCP and lists 1: each sees the other online.
	friend, err := client.New(client.Config{Addr: tcpAddr, UserID: 2, Friends: []int64{1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- friend.Run(ctx) }()
	seen := client.NewRoster(friend.Friends())
	waitRoster := func(want bool) {
		t.Helper()
		deadline := time.After(clienttest.Timeout)
		for {
			for _, f := range seen.Friends() {
				if f.UserID == 1 && f.Online == want && seen.Live() {
					return
				}
			}
			select {
			case ev := <-friend.Events():
				seen.Apply(ev)
			case <-deadline:
				t.Fatalf("TCP user 2 never saw user 1 online=%v", want)
			}
		}
	}
	waitRoster(true)
	c.waitFor(online("2"))
	c.screenshot("real-live")

	// The page logs out: user 2 sees 1 go offline.
	c.eval(`document.getElementById("logout").click()`)
	c.waitFor(status("idle"))
	waitRoster(false)

	// User 2 logs out; the page signs in again and sees 2 offline.
	if err := friend.Logout(); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range friend.Events() {
		}
	}()
	if err := <-runErr; err != nil {
		t.Fatalf("TCP user 2: %v", err)
	}
	c.eval(`document.getElementById("connectForm").requestSubmit()`)
	c.waitFor(status("live"))
	c.waitFor(offline("2"))
	c.noExceptions()
}
