package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverProc is an ALO the tool started itself from a command line, so it
// can measure it, and kill and restart it for the storm scenario.
type serverProc struct {
	cmdline string
	addr    string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// expandServerCmd fills {addr} and {port} in a command line.
func expandServerCmd(cmdline, addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return strings.NewReplacer("{addr}", addr, "{port}", port).Replace(cmdline)
}

// startServer runs cmdline through sh in its own process group and waits
// until addr accepts connections.
func startServer(ctx context.Context, cmdline, addr string, wait time.Duration) (*serverProc, error) {
	full := expandServerCmd(cmdline, addr)
	cmd := exec.Command("sh", "-c", full)
	cmd.Stdout = os.Stderr // the server's logs must not mix with --json output
	cmd.Stderr = os.Stderr
	// Its own group, so that a kill reaches whatever sh started (go run's
	// child, say); and it dies with the tool.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start server %q: %w", full, err)
	}
	s := &serverProc{cmdline: cmdline, addr: addr, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	if err := waitListening(ctx, addr, wait, s.exited); err != nil {
		s.kill()
		return nil, fmt.Errorf("bench: server %q: %w", full, err)
	}
	return s, nil
}

// waitListening polls addr until a connection succeeds. A probe connection
// says no hello, which the server must tolerate (it times it out).
func waitListening(ctx context.Context, addr string, wait time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(wait)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v: %w", addr, wait, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited before listening")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitRefused polls addr until nothing accepts there any more.
func waitRefused(ctx context.Context, addr string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil
		}
		c.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: something still listens on %s %v after the kill", addr, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL to the server's whole process group and waits for it.
func (s *serverProc) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// stop asks the server to stop (SIGTERM), then kills it after grace.
func (s *serverProc) stop(grace time.Duration) {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(grace):
		s.kill()
	}
}

// portOf returns the port of a host:port address.
func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("bench: address %q: %w", addr, err)
	}
	return strconv.Atoi(p)
}

// freeLoopbackAddr returns a loopback address with a port nobody listens on
// right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: pick a port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// loopbackAddr normalises a gateway address and refuses anything that is
// not on this machine: the tool is a load generator, and load goes to
// loopback only.
func loopbackAddr(a string) (string, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", fmt.Errorf("bench: address %q: %w", a, err)
	}
	switch host {
	case "", "localhost":
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("bench: address %q is not loopback; the tool only loads this machine", a)
	}
	return net.JoinHostPort(host, port), nil
}
