package main

import (
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alo-presence/alo/internal/alotest"
)

// These tests run the real binaries: cmd/alo (embedded NATS, presence and a
// gateway, on loopback) and alo-client, as a user would.

func TestMain(m *testing.M) { alotest.Main(m) }

// startALO runs alo with its client listener on addr (port 0 picks one) and
// returns it with the address it listens on.
func startALO(t *testing.T, addr string) (*alotest.Process, string) {
	t.Helper()
	p := alotest.Start(t, "alo", "--tcp", addr, "--udp", "", "--http", "")
	return p, p.Addr("clients")
}

// userProc is one alo-client process.
type userProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *lines
}

func startUser(t *testing.T, bin, addr string, args ...string) *userProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--addr", addr, "--min-backoff", "20ms", "--max-backoff", "200ms"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	u := &userProc{cmd: cmd, stdin: stdin, out: &lines{}}
	cmd.Stdout, cmd.Stderr = u.out, u.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return u
}

func (u *userProc) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(u.stdin, line+"\n"); err != nil {
		t.Fatalf("stdin: %v", err)
	}
}

func (u *userProc) quit(t *testing.T) {
	t.Helper()
	u.send(t, "quit")
	done := make(chan error, 1)
	go func() { done <- u.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("alo-client exit: %v\n%s", err, strings.Join(u.out.all(), "\n"))
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("alo-client did not exit\n%s", strings.Join(u.out.all(), "\n"))
	}
	u.out.waitLine(t, "logged out")
}

// TestAgainstRealGateway: two users see each other come and go through
// the real system, change friend lists, and both come back by themselves
// after the whole server is killed and restarted.
func TestAgainstRealGateway(t *testing.T) {
	clientBin := alotest.Binary(t, "alo-client")
	srv, addr := startALO(t, "127.0.0.1:0")

	a := startUser(t, clientBin, addr, "--user", "1", "--friends", "2")
	a.out.waitLine(t, "ready session=")
	a.out.waitLine(t, "status live online= offline=2")

	b := startUser(t, clientBin, addr, "--user", "2", "--friends", "1")
	b.out.waitLine(t, "online 1") // the snapshot
	b.out.waitLine(t, "ready session=")
	a.out.waitLine(t, "online 2") // live
	a.out.waitLine(t, "status live online=2 offline=")

	a.send(t, "friends 3,2")
	a.out.waitLine(t, "status live online=2 offline=3")
	c := startUser(t, clientBin, addr, "--user", "3")
	c.out.waitLine(t, "ready session=")
	a.out.waitLine(t, "online 3")
	c.quit(t)
	a.out.waitLine(t, "offline 3")

	b.quit(t)
	a.out.waitLine(t, "offline 2")
	a.out.waitLine(t, "status live online= offline=2,3")

	b = startUser(t, clientBin, addr, "--user", "2", "--friends", "1")
	a.out.waitLine(t, "online 2")

	// Kill the whole server; restart it on the same address. Both clients
	// reconnect by themselves and end up with the truth.
	srv.Signal(syscall.SIGKILL)
	srv.Wait()
	a.out.waitLine(t, "disconnected")
	a.out.waitLine(t, "status stale online=2 offline=3")
	startALO(t, addr)
	a.out.waitLine(t, "ready session=")
	b.out.waitLine(t, "ready session=")
	a.out.waitLine(t, "status live online=2 offline=3")

	a.quit(t)
	b.out.waitLine(t, "offline 1")
	b.quit(t)
}
