package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alo-presence/alo/client"
	"github.com/alo-presence/alo/client/clienttest"
)

// lines collects what the program prints, for tests to wait on.
type lines struct {
	mu   sync.Mutex
	buf  strings.Builder
	read int // lines already matched by waitLine
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSuffix(l.buf.String(), "\n"), "\n")
}

// timestamp is how every plain line starts.
var timestamp = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d\d\d `)

// waitLine waits for a line, after the last one matched, whose text after
// the timestamp starts with prefix, and returns that text.
func (l *lines) waitLine(t testing.TB, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(clienttest.Timeout)
	for {
		all := l.all()
		for i := l.read; i < len(all); i++ {
			text := timestamp.ReplaceAllString(all[i], "")
			if strings.HasPrefix(text, prefix) {
				l.read = i + 1
				return text
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line starting %q after line %d; output:\n%s", prefix, l.read, strings.Join(all, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// program is run() going on in the background with pipes for its stdio.
type program struct {
	stdin  *io.PipeWriter
	out    *lines
	errOut *lines
	cancel context.CancelFunc
	done   chan error
}

func startProgram(t testing.TB, args ...string) *program {
	t.Helper()
	inR, inW := io.Pipe()
	p := &program{stdin: inW, out: &lines{}, errOut: &lines{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	args = append([]string{"--min-backoff", "5ms", "--max-backoff", "20ms"}, args...)
	go func() { p.done <- run(ctx, func() {}, args, inR, p.out, p.errOut, false) }()
	t.Cleanup(func() {
		inW.Close()
		cancel()
		p.wait(t)
	})
	return p
}

func (p *program) send(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("stdin: %v", err)
	}
}

func (p *program) wait(t testing.TB) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(clienttest.Timeout):
		t.Fatalf("program did not exit; output:\n%s", strings.Join(p.out.all(), "\n"))
		return nil
	}
}

func TestSessionPlainOutput(t *testing.T) {
	gw := clienttest.NewGateway(t)
	p := startProgram(t, "--user", "1", "--friends", "2,3", "--addr", gw.Addr())
	out := p.out

	out.waitLine(t, "start user=1 addr="+gw.Addr()+" friends=2,3")
	conn := gw.Accept(t)
	conn.Expect(t, `{"user_id":1,"friends":[2,3]}`)
	out.waitLine(t, "connected attempt=1")
	conn.Send(t, `{"user_id":2,"online":true}`)
	conn.Send(t, `{"ready":true,"session":"s1"}`)
	out.waitLine(t, "online 2")
	out.waitLine(t, "ready session=s1")
	out.waitLine(t, "status live online=2 offline=3")

	p.send(t, "friends 3,5")
	conn.Expect(t, `{"friends":[3,5]}`)
	out.waitLine(t, "friends 3,5")
	out.waitLine(t, "status live online= offline=3,5")
	conn.Send(t, `{"user_id":5,"online":true}`)
	out.waitLine(t, "online 5")
	out.waitLine(t, "status live online=5 offline=3")

	p.send(t, "add 7")
	conn.Expect(t, `{"friends":[3,5,7]}`)
	p.send(t, "rm 3")
	conn.Expect(t, `{"friends":[5,7]}`)
	out.waitLine(t, "status live online=5 offline=7")

	p.send(t, "bogus")
	out.waitLine(t, `error code=command message="unknown command \"bogus\" (type help)"`)
	p.send(t, "friends 0")
	out.waitLine(t, "error code=command")

	conn.Send(t, `{"error":"bad_message","message":"just a test"}`)
	out.waitLine(t, `error code=bad_message message="just a test"`)

	// The gateway goes away: stale status, then a reconnect whose hello
	// carries the current list; 5 stayed online, 7 never was.
	conn.Close()
	out.waitLine(t, "disconnected retry_in=")
	out.waitLine(t, "status stale online=5 offline=7")
	conn = gw.Accept(t)
	conn.Expect(t, `{"user_id":1,"friends":[5,7]}`)
	conn.Send(t, `{"user_id":5,"online":true}`)
	conn.Send(t, `{"ready":true,"session":"s2"}`)
	out.waitLine(t, "ready session=s2")
	out.waitLine(t, "status live online=5 offline=7")

	p.send(t, "quit")
	conn.Expect(t, `{"online":false}`)
	conn.Close()
	if err := p.wait(t); err != nil {
		t.Fatalf("run: %v", err)
	}
	out.waitLine(t, "logged out")
	for _, l := range out.all() {
		if !timestamp.MatchString(l) {
			t.Errorf("line without timestamp: %q", l)
		}
	}
}

func TestEndOfInputLogsOut(t *testing.T) {
	gw := clienttest.NewGateway(t)
	p := startProgram(t, "--user", "4", "--addr", gw.Addr())
	conn := gw.Accept(t)
	conn.Expect(t, `{"user_id":4,"friends":[]}`)
	conn.Send(t, `{"ready":true,"session":"s"}`)
	p.out.waitLine(t, "status live online= offline=")
	p.stdin.Close()
	conn.Expect(t, `{"online":false}`)
	conn.Close()
	if err := p.wait(t); err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestSignalLogsOut(t *testing.T) {
	gw := clienttest.NewGateway(t)
	p := startProgram(t, "--user", "4", "--friends", "1", "--addr", gw.Addr(), "--no-input")
	conn := gw.Accept(t)
	conn.Expect(t, `{"user_id":4,"friends":[1]}`)
	conn.Send(t, `{"ready":true,"session":"s"}`)
	p.out.waitLine(t, "ready")
	p.cancel()
	conn.Expect(t, `{"online":false}`)
	conn.Close()
	if err := p.wait(t); err != nil {
		t.Fatalf("run: %v", err)
	}
	p.out.waitLine(t, "logged out")
}

func TestRejected(t *testing.T) {
	gw := clienttest.NewGateway(t)
	p := startProgram(t, "--user", "4", "--addr", gw.Addr())
	conn := gw.Accept(t)
	conn.Next(t)
	conn.Send(t, `{"error":"too_many_friends","message":"no"}`)
	conn.Close()
	err := p.wait(t)
	if !errors.Is(err, client.ErrRejected) || exitCode(err) != 1 {
		t.Fatalf("run: %v (exit %d), want ErrRejected, exit 1", err, exitCode(err))
	}
}

func TestColour(t *testing.T) {
	gw := clienttest.NewGateway(t)
	p := startProgram(t, "--user", "1", "--friends", "2", "--addr", gw.Addr(), "--color", "always")
	conn := gw.Accept(t)
	conn.Next(t)
	conn.Send(t, `{"user_id":2,"online":true}`)
	conn.Send(t, `{"ready":true,"session":"s"}`)
	deadline := time.Now().Add(clienttest.Timeout)
	for !strings.Contains(strings.Join(p.out.all(), "\n"), green+"●"+reset+" "+bold+"2"+reset+" is online") {
		if time.Now().After(deadline) {
			t.Fatalf("no coloured online line in:\n%q", p.out.all())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--user", "0"},
		{"--user", "x"},
		{"--user", "1", "--friends", "2,-3"},
		{"--user", "1", "--color", "sometimes"},
		{"--user", "1", "extra"},
		{"--nope"},
		{"--user", "1", "--min-backoff", "0"},
		{"--user", "1", "--min-backoff", "-1s"},
		{"--user", "1", "--min-backoff", "2s", "--max-backoff", "1s"},
	} {
		err := run(context.Background(), func() {}, args, strings.NewReader(""), io.Discard, io.Discard, false)
		if !errors.Is(err, errUsage) || exitCode(err) != 2 {
			t.Errorf("run(%q) = %v (exit %d), want a usage error, exit 2", args, err, exitCode(err))
		}
	}
	err := run(context.Background(), func() {}, []string{"-h"}, strings.NewReader(""), io.Discard, io.Discard, false)
	if !errors.Is(err, flag.ErrHelp) || exitCode(err) != 0 {
		t.Errorf("-h: %v (exit %d), want exit 0", err, exitCode(err))
	}
}

// TestBinary runs the real binary as a user would, input piped in.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "alo-client")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	gw := clienttest.NewGateway(t)
	cmd := exec.Command(bin, "--user", "1", "--friends", "2", "--addr", gw.Addr())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &lines{}
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	conn := gw.Accept(t)
	conn.Expect(t, `{"user_id":1,"friends":[2]}`)
	conn.Send(t, `{"user_id":2,"online":true}`)
	conn.Send(t, `{"ready":true,"session":"s"}`)
	out.waitLine(t, "status live online=2 offline=")
	io.WriteString(stdin, "logout\n")
	conn.Expect(t, `{"online":false}`)
	conn.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("alo-client: %v; output:\n%s", err, strings.Join(out.all(), "\n"))
	}
	out.waitLine(t, "logged out")
}

// status away in a meeting sets the status, the next hello carries it, and
// friends' statuses show, plain lines unchanged when a status is plain.
func TestStatusCommand(t *testing.T) {
	gw := clienttest.NewGateway(t)
	p := startProgram(t, "--user", "1", "--friends", "2,3", "--addr", gw.Addr())
	out := p.out
	conn := gw.Accept(t)
	conn.Expect(t, `{"user_id":1,"friends":[2,3]}`)
	conn.Send(t, `{"user_id":2,"online":true,"status":"away","text":"lunch"}`)
	conn.Send(t, `{"ready":true,"session":"s1"}`)
	out.waitLine(t, `online 2 away "lunch"`)
	out.waitLine(t, "ready session=s1")
	p.send(t, "status away in a meeting")
	conn.Expect(t, `{"status":"away","text":"in a meeting"}`)
	out.waitLine(t, `my-status away "in a meeting"`)
	p.send(t, "status busy")
	out.waitLine(t, `error code=command message="usage: status`)
	conn.Send(t, `{"user_id":2,"online":true,"status":"dnd"}`)
	out.waitLine(t, "online 2 dnd")
	conn.Send(t, `{"user_id":2,"online":true}`)
	out.waitLine(t, "online 2")
	conn.Send(t, `{"user_id":3,"online":true,"text":"hi"}`)
	out.waitLine(t, `online 3 "hi"`)
	p.send(t, "status")
	out.waitLine(t, "status live online=2,3 offline=")
	out.waitLine(t, `friend-status 3 "hi"`)
	// A reconnect's hello carries the status.
	conn.Close()
	conn = gw.Accept(t)
	conn.Expect(t, `{"user_id":1,"friends":[2,3],"status":"away","text":"in a meeting"}`)
}
