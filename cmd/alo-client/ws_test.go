package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"testing"
	"time"
)

// TestWebSocketAgainstRealGateway: a user on alo's WebSocket and a user on
// its TCP port see each other come and go.
func TestWebSocketAgainstRealGateway(t *testing.T) {
	aloBin, clientBin := buildBinaries(t)
	tcp, http := startALOWithHTTP(t, aloBin)
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

// startALOWithHTTP runs alo on loopback with TCP and HTTP on free ports and
// returns their addresses.
func startALOWithHTTP(t *testing.T, bin string) (tcp, http string) {
	t.Helper()
	cmd := exec.Command(bin, "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--udp", "", "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	found := make(chan [2]string, 4)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var l struct{ Msg, For, Addr string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "listening" {
				found <- [2]string{l.For, l.Addr}
			}
		}
	}()
	deadline := time.After(30 * time.Second)
	for tcp == "" || http == "" {
		select {
		case a := <-found:
			switch a[0] {
			case "clients":
				tcp = a[1]
			case "http":
				http = a[1]
			}
		case <-deadline:
			t.Fatalf("alo did not report its addresses (tcp %q, http %q)", tcp, http)
		}
	}
	return tcp, http
}
