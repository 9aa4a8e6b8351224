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
	"sync/atomic"
	"syscall"
	"time"
)

// BareEnv, set in a process's environment, makes alo-bench the bare server:
// a goroutine per connection blocked in Read on a 1 KiB buffer, the floor
// of Go's goroutine-per-connection model. It prints its address, then
// answers each line on stdin with how many connections it has accepted.
const BareEnv = "ALO_BENCH_BARE"

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
					if _, err := c.Read(buf); err != nil {
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

// BarePerConn starts the bare server in a child process, opens conns idle
// connections to it, and returns its resident memory per connection.
func BarePerConn(ctx context.Context, conns, sources int) (float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("bench: find own binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), BareEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, fmt.Errorf("bench: bare stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("bench: bare stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("bench: start bare server: %w", err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		return 0, errors.New("bench: bare server said nothing")
	}
	addr := strings.TrimSpace(lines.Text())
	count := func() (int, error) {
		if _, err := io.WriteString(stdin, "\n"); err != nil {
			return 0, fmt.Errorf("bench: ask bare server: %w", err)
		}
		if !lines.Scan() {
			return 0, errors.New("bench: bare server stopped answering")
		}
		return strconv.Atoi(strings.TrimSpace(lines.Text()))
	}
	if _, err := count(); err != nil { // settle its runtime before the baseline
		return 0, err
	}
	base, err := SampleProc(cmd.Process.Pid)
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
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return 0, fmt.Errorf("bench: dial bare server (%d open): %w", len(held), err)
		}
		held = append(held, c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := count()
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
	after, err := SampleProc(cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	return float64(after.RSS-base.RSS) / float64(conns), nil
}
