package alotest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildMu  sync.Mutex
	built    = map[string]string{} // command name → binary
	buildDir string
)

// Binary builds cmd/<name> of this module once per test process and returns
// the binary's path. It skips the test under -short.
func Binary(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the real binaries")
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[name]; ok {
		return bin
	}
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	if buildDir == "" {
		// Shared by the tests of this process; the OS cleans its temp.
		if buildDir, err = os.MkdirTemp("", "alo-test-bin-"); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(buildDir, name)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = strings.TrimSpace(string(root))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, out)
	}
	built[name] = bin
	return bin
}

// Process is a running ALO binary, started with JSON logs so that the test
// learns the addresses it listens on.
type Process struct {
	Cmd *exec.Cmd
	t   testing.TB

	mu    sync.Mutex
	addrs map[string]string // "clients", "http", "udp" → address
	log   strings.Builder
	added chan struct{} // a value when addrs grew
}

// Start runs cmd/<name> with args (and --log-format json). Its log is shown
// if the test fails; it is killed when the test ends.
func Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	return StartEnv(t, name, nil, args...)
}

// StartEnv is Start with variables ("ALO_NATS_TOKEN=…") added to the
// environment the process inherits: how secrets reach it.
func StartEnv(t testing.TB, name string, env []string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(Binary(t, name), append(args, "--log-format", "json", "--log-level", "debug")...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	return startCmd(t, name, cmd)
}

// StartNoFile is Start with the process's file limit (soft and hard, so
// that Go's own raise at start cannot lift it) set to nofile, through the
// shell's ulimit: how a test shows what happens when the descriptors run
// out.
func StartNoFile(t testing.TB, nofile int, name string, args ...string) *Process {
	t.Helper()
	args = append([]string{"-c", "ulimit -n " + strconv.Itoa(nofile) + ` && exec "$0" "$@"`, Binary(t, name)},
		append(args, "--log-format", "json", "--log-level", "debug")...)
	return startCmd(t, name, exec.Command("sh", args...))
}

func startCmd(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, t: t, addrs: map[string]string{}, added: make(chan struct{}, 1)}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		p.scan(stderr)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-logged
		if t.Failed() {
			p.mu.Lock()
			t.Logf("--- %s log:\n%s", name, p.log.String())
			p.mu.Unlock()
		}
	})
	return p
}

func (p *Process) scan(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l struct{ Msg, For, Addr string }
		p.mu.Lock()
		p.log.Write(sc.Bytes())
		p.log.WriteByte('\n')
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "listening" {
			p.addrs[l.For] = l.Addr
			select {
			case p.added <- struct{}{}:
			default:
			}
		}
		p.mu.Unlock()
	}
}

// Addr waits for the process to say where it listens for what ("clients",
// "http" or "udp") and returns the address.
func (p *Process) Addr(what string) string {
	p.t.Helper()
	deadline := time.After(Timeout)
	for {
		p.mu.Lock()
		a := p.addrs[what]
		p.mu.Unlock()
		if a != "" {
			return a
		}
		select {
		case <-p.added:
		case <-deadline:
			p.t.Fatalf("%s did not say where it listens for %s", p.Cmd.Path, what)
		}
	}
}

// Output waits until the process has written a line for which match is
// true, on stderr (its logs, and what it prints besides), and returns it.
func (p *Process) Output(what string, match func(line string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		p.mu.Lock()
		out := p.log.String()
		p.mu.Unlock()
		for _, l := range strings.Split(out, "\n") {
			if match(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not write %s", p.Cmd.Path, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Log returns what the process has written to stderr so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) { _ = p.Cmd.Process.Signal(sig) }

// Wait waits for the process to exit and returns how it exited.
func (p *Process) Wait() error {
	p.t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(Timeout):
		p.t.Fatalf("%s did not exit", p.Cmd.Path)
		return fmt.Errorf("did not exit")
	}
}

// Main runs a package's tests and then removes the binaries Binary built.
// Packages that start binaries call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	buildMu.Lock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	buildMu.Unlock()
	os.Exit(code)
}
