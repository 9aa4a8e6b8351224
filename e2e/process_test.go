package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alo-presence/alo/internal/alotest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds ALO's binaries once per test run and returns their folder.
func binaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "alo-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir, "../cmd/alo", "../cmd/gateway", "../cmd/presence")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// Process is a running ALO binary.
type Process struct {
	Cmd  *exec.Cmd
	Addr string // its client address, if it has one
	log  *os.File
}

// Start runs one of the binaries with args; its logs go to a file that the
// test prints if it fails.
func Start(t *testing.T, name string, args ...string) *Process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binaries(t), name), append(args, "--log-format", "text", "--log-level", "debug")...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, log: logFile}
	t.Cleanup(func() {
		p.Signal(syscall.SIGKILL)
		cmd.Wait()
		logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("--- %s log:\n%s", name, out)
		}
	})
	return p
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) { _ = p.Cmd.Process.Signal(sig) }

// Wait waits for the process to exit and returns its error.
func (p *Process) Wait(t *testing.T) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(alotest.Timeout):
		t.Fatalf("%s did not exit", p.Cmd.Path)
		return nil
	}
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartGateway runs a gateway process and waits until it accepts clients.
func StartGateway(t *testing.T, natsURL string, args ...string) *Process {
	t.Helper()
	addr := freePort(t)
	p := Start(t, "gateway", append([]string{"--tcp", addr, "--nats", natsURL}, args...)...)
	p.Addr = addr
	waitListening(t, addr)
	return p
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	alotest.WaitFor(t, alotest.Timeout, addr+" to accept", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// Presence and two gateways as separate processes on a NATS server: users on
// different gateways see each other come and go, and a gateway stopped with
// SIGTERM has its users reported offline.
func TestProcesses(t *testing.T) {
	ns := alotest.NATS(t)
	url := ns.ClientURL()
	Start(t, "presence", "--nats", url, "--rebuild", "1ms")
	gwA := StartGateway(t, url, "--id", "a")
	gwB := StartGateway(t, url, "--id", "b")

	a, _ := alotest.Connect(t, gwA.Addr, 1, 2)
	b, snap := alotest.Connect(t, gwB.Addr, 2, 1)
	wantOnline(t, snap, 1)
	a.ExpectState(2, true)
	b.Close()
	a.ExpectState(2, false)

	alotest.Connect(t, gwB.Addr, 2, 1)
	a.ExpectState(2, true)
	start := time.Now()
	gwB.Signal(syscall.SIGTERM)
	a.ExpectState(2, false)
	t.Logf("offline seen %v after SIGTERM", time.Since(start))
	if err := gwB.Wait(t); err != nil {
		t.Fatalf("gateway exited with %v after SIGTERM", err)
	}
}

// The dev binary with --nats-listen: another process's gateway joins its
// embedded NATS, and users on both see each other.
func TestDevModeWithExternalGateway(t *testing.T) {
	natsAddr := freePort(t)
	tcp := freePort(t)
	alo := Start(t, "alo", "--tcp", tcp, "--nats-listen", natsAddr, "--http", freePort(t))
	waitListening(t, tcp)
	gw := StartGateway(t, "nats://"+natsAddr)

	a, _ := alotest.Connect(t, tcp, 1, 2)
	b, snap := alotest.Connect(t, gw.Addr, 2, 1)
	wantOnline(t, snap, 1)
	a.ExpectState(2, true)
	a.Send(`{"online": false}`)
	b.ExpectState(1, false)

	alotest.Connect(t, tcp, 1, 2)
	b.ExpectState(1, true)
	alo.Signal(syscall.SIGINT)
	b.ExpectState(1, false) // the dev process drained before it exited
	if err := alo.Wait(t); err != nil {
		t.Fatalf("alo exited with %v after SIGINT", err)
	}
}
