package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Ceilings are what the machine itself can do, measured in the same run as
// ALO so the two can be put side by side (DESIGN §6).
type Ceilings struct {
	TCPRoundTrip   Summary       `json:"tcp_round_trip"`    // 32-byte echo over loopback
	NATSRequest    Summary       `json:"nats_request"`      // request/reply through an embedded server
	NATSPubSub     float64       `json:"nats_pubsub_msgs"`  // one-way msgs/s, 32 bytes, one pair
	FanOut         Summary       `json:"fan_out,omitempty"` // hotuser: one line to each of FanOutConns sockets, first write → last read
	FanOutConns    int           `json:"fan_out_conns,omitempty"`
	StormFloor     time.Duration `json:"storm_floor_ns,omitempty"` // storm: StormConns dial, hello, answer at once against the bare server
	StormConns     int           `json:"storm_conns,omitempty"`
	BareConns      int           `json:"bare_conns"` // idle connections held by the bare server
	BarePerConnRSS float64       `json:"bare_rss_per_conn"`
	BareErr        string        `json:"bare_err,omitempty"`
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

// FanOut times the raw floor of the hot-user case: one goroutine writes one
// line to each of conns loopback sockets, whose readers are goroutines like
// the tool's sessions; the time runs from the first write to the last line
// read. Each write crosses the kernel's loopback path and wakes a reader on
// the same cores, so on a small machine this floor is far above a single
// round trip. It returns the figures over rounds bursts.
func FanOut(conns, rounds int) (Summary, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Summary{}, fmt.Errorf("bench: listen: %w", err)
	}
	defer ln.Close()
	base := time.Now()
	var got, last atomic.Int64
	servers := make(chan net.Conn, conns)
	go func() {
		for range conns {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			servers <- c
		}
	}()
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := range conns {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%4))}, Control: bindNoPort}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			return Summary{}, fmt.Errorf("bench: fan-out dial (%d open): %w", i, err)
		}
		clients = append(clients, c)
		go func() {
			r := bufio.NewReaderSize(c, 2048)
			for {
				if _, err := r.ReadSlice('\n'); err != nil {
					return
				}
				now := int64(time.Since(base))
				for {
					l := last.Load()
					if now <= l || last.CompareAndSwap(l, now) {
						break
					}
				}
				got.Add(1)
			}
		}()
	}
	srv := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range srv {
			c.Close()
		}
	}()
	for range conns {
		select {
		case c := <-servers:
			srv = append(srv, c)
		case <-time.After(10 * time.Second):
			return Summary{}, errors.New("bench: fan-out accept timed out")
		}
	}
	line := []byte(`{"user_id":1000000000,"online":true}` + "\n")
	var h Histogram
	for round := range rounds {
		start := int64(time.Since(base))
		for _, c := range srv {
			if _, err := c.Write(line); err != nil {
				return Summary{}, fmt.Errorf("bench: fan-out write: %w", err)
			}
		}
		want := int64(conns * (round + 1))
		deadline := time.Now().Add(10 * time.Second)
		for got.Load() < want {
			if time.Now().After(deadline) {
				return Summary{}, errors.New("bench: fan-out lines did not all arrive")
			}
			time.Sleep(100 * time.Microsecond)
		}
		h.Record(last.Load() - start)
		time.Sleep(50 * time.Millisecond)
	}
	return h.Summary(), nil
}
