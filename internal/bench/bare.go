package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// BareEnv, set in a process's environment, makes alo-bench the bare server:
// a goroutine per connection blocked in Read on a 1 KiB buffer, the floor
// of Go's goroutine-per-connection model, answering whatever it reads with
// one line. It prints its address, then answers each line on stdin with how
// many connections it has accepted.
const BareEnv = "ALO_BENCH_BARE"

var bareReply = []byte(`{"ready":true,"session":"bare"}` + "\n")

// ServeBare is the bare server's main loop; it returns when stdin ends.
func ServeBare(in io.Reader, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bench: bare listen: %w", err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				buf := make([]byte, 1024)
				for {
					// Whatever arrives gets one line back, so the storm
					// floor can time a hello and its answer.
					if _, err := c.Read(buf); err != nil {
						return
					}
					if _, err := c.Write(bareReply); err != nil {
						return
					}
				}
			}()
		}
	}()
	fmt.Fprintln(out, ln.Addr().String())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		fmt.Fprintln(out, accepted.Load())
	}
	return nil
}

// bareChild is a running bare server process.
type bareChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
	addr  string
}

// startBare runs the bare server in a child process.
func startBare(ctx context.Context) (*bareChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: find own binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), BareEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: bare stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: bare stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start bare server: %w", err)
	}
	b := &bareChild{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
	if !b.lines.Scan() {
		b.close()
		return nil, errors.New("bench: bare server said nothing")
	}
	b.addr = strings.TrimSpace(b.lines.Text())
	return b, nil
}

// accepted asks the bare server how many connections it has accepted.
func (b *bareChild) accepted() (int, error) {
	if _, err := io.WriteString(b.stdin, "\n"); err != nil {
		return 0, fmt.Errorf("bench: ask bare server: %w", err)
	}
	if !b.lines.Scan() {
		return 0, errors.New("bench: bare server stopped answering")
	}
	return strconv.Atoi(strings.TrimSpace(b.lines.Text()))
}

func (b *bareChild) close() {
	b.stdin.Close()
	_ = b.cmd.Wait()
}

// BarePerConn starts the bare server in a child process, opens conns idle
// connections to it, and returns its resident memory per connection.
func BarePerConn(ctx context.Context, conns, sources int) (float64, error) {
	b, err := startBare(ctx)
	if err != nil {
		return 0, err
	}
	defer b.close()
	if _, err := b.accepted(); err != nil { // settle its runtime before the baseline
		return 0, err
	}
	base, err := SampleProc(b.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	held := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range conns {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%max(sources, 1)))}, Control: bindNoPort}
		c, err := d.DialContext(ctx, "tcp", b.addr)
		if err != nil {
			return 0, fmt.Errorf("bench: dial bare server (%d open): %w", len(held), err)
		}
		held = append(held, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := b.accepted()
		if err != nil {
			return 0, err
		}
		if n >= conns {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("bench: bare server accepted %d of %d", n, conns)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let the last goroutines block in Read
	after, err := SampleProc(b.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	return float64(after.RSS-base.RSS) / float64(conns), nil
}

// BareStorm is the storm's floor: conns clients, released at one instant,
// each dial the bare server, write a hello-sized line and read the answer.
// It returns the time from the release to the last answer.
func BareStorm(ctx context.Context, conns, sources, helloLen int) (time.Duration, error) {
	b, err := startBare(ctx)
	if err != nil {
		return 0, err
	}
	defer b.close()
	hello := make([]byte, max(helloLen, 2))
	for i := range hello {
		hello[i] = ' '
	}
	hello[len(hello)-1] = '\n'
	release := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	var firstErr error
	var last atomic.Int64
	base := time.Now()
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			d := net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%max(sources, 1)))}, Control: bindNoPort}
			c, err := d.DialContext(ctx, "tcp", b.addr)
			if err == nil {
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err = c.Write(hello); err == nil {
					_, err = bufio.NewReaderSize(c, 64).ReadSlice('\n')
				}
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			now := int64(time.Since(base))
			for {
				l := last.Load()
				if now <= l || last.CompareAndSwap(l, now) {
					break
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // every goroutine parked at the gate
	start := int64(time.Since(base))
	close(release)
	wg.Wait()
	for _, c := range held {
		c.Close()
	}
	if firstErr != nil {
		return 0, fmt.Errorf("bench: bare storm: %w", firstErr)
	}
	return time.Duration(last.Load() - start), nil
}
