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

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Ceilings are what the machine itself can do, measured in the same run as
// ALO so the two can be put side by side (DESIGN §6).
type Ceilings struct {
	TCPRoundTrip   Summary `json:"tcp_round_trip"`   // 32-byte echo over loopback
	NATSRequest    Summary `json:"nats_request"`     // request/reply through an embedded server
	NATSPubSub     float64 `json:"nats_pubsub_msgs"` // one-way msgs/s, 32 bytes, one pair
	BareConns      int     `json:"bare_conns"`       // idle connections held by the bare server
	BarePerConnRSS float64 `json:"bare_rss_per_conn"`
	BareErr        string  `json:"bare_err,omitempty"`
}

// TCPRoundTrip times n ping-pongs of 32 bytes over a loopback socket to an
// echo goroutine: the floor of any request that crosses a socket twice.
func TCPRoundTrip(n int) (Summary, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Summary{}, fmt.Errorf("bench: listen: %w", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return Summary{}, fmt.Errorf("bench: dial echo: %w", err)
	}
	defer c.Close()
	var h Histogram
	buf := make([]byte, 32)
	for i := 0; i < n+n/10; i++ {
		t := time.Now()
		if _, err := c.Write(buf); err != nil {
			return Summary{}, fmt.Errorf("bench: echo write: %w", err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return Summary{}, fmt.Errorf("bench: echo read: %w", err)
		}
		if i >= n/10 { // the first tenth warms up
			h.Record(int64(time.Since(t)))
		}
	}
	return h.Summary(), nil
}

// startNATS runs an embedded NATS server on a random loopback port.
func startNATS() (*server.Server, error) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, MaxPending: 256 << 20})
	if err != nil {
		return nil, fmt.Errorf("bench: nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("bench: nats server did not start")
	}
	return s, nil
}

// NATSRoundTrip times n requests from one connection to a responder on
// another through an embedded server: two broker hops, like ALO's path
// from gateway to presence and back.
func NATSRoundTrip(n int) (Summary, error) {
	s, err := startNATS()
	if err != nil {
		return Summary{}, err
	}
	defer s.Shutdown()
	rc, err := nats.Connect(s.ClientURL())
	if err != nil {
		return Summary{}, fmt.Errorf("bench: nats connect: %w", err)
	}
	defer rc.Close()
	if _, err := rc.Subscribe("bench.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return Summary{}, fmt.Errorf("bench: nats subscribe: %w", err)
	}
	if err := rc.Flush(); err != nil {
		return Summary{}, fmt.Errorf("bench: nats flush: %w", err)
	}
	qc, err := nats.Connect(s.ClientURL())
	if err != nil {
		return Summary{}, fmt.Errorf("bench: nats connect: %w", err)
	}
	defer qc.Close()
	var h Histogram
	payload := make([]byte, 32)
	for i := 0; i < n+n/10; i++ {
		t := time.Now()
		if _, err := qc.Request("bench.echo", payload, 5*time.Second); err != nil {
			return Summary{}, fmt.Errorf("bench: nats request: %w", err)
		}
		if i >= n/10 {
			h.Record(int64(time.Since(t)))
		}
	}
	return h.Summary(), nil
}

// NATSPubSub measures one-way throughput of n 32-byte messages from one
// connection to a subscriber on another, in messages per second from the
// first publish to the last delivery.
func NATSPubSub(n int) (float64, error) {
	s, err := startNATS()
	if err != nil {
		return 0, err
	}
	defer s.Shutdown()
	sc, err := nats.Connect(s.ClientURL())
	if err != nil {
		return 0, fmt.Errorf("bench: nats connect: %w", err)
	}
	defer sc.Close()
	var got atomic.Int64
	done := make(chan struct{})
	sub, err := sc.Subscribe("bench.tp", func(*nats.Msg) {
		if got.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("bench: nats subscribe: %w", err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	if err := sc.Flush(); err != nil {
		return 0, fmt.Errorf("bench: nats flush: %w", err)
	}
	pc, err := nats.Connect(s.ClientURL())
	if err != nil {
		return 0, fmt.Errorf("bench: nats connect: %w", err)
	}
	defer pc.Close()
	payload := make([]byte, 32)
	start := time.Now()
	for range n {
		if err := pc.Publish("bench.tp", payload); err != nil {
			return 0, fmt.Errorf("bench: nats publish: %w", err)
		}
	}
	if err := pc.Flush(); err != nil {
		return 0, fmt.Errorf("bench: nats flush: %w", err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		// Some were dropped (a slow consumer): report what arrived, honestly.
	}
	el := time.Since(start)
	return float64(got.Load()) / el.Seconds(), nil
}

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
