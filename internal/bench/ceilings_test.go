package bench

import (
	"context"
	"net"
	"os"
	"testing"
	"time"
)

func TestCeilings(t *testing.T) {
	tcp, err := TCPRoundTrip(1000)
	if err != nil || tcp.N != 1000 || tcp.P50 <= 0 {
		t.Fatalf("tcp round trip %+v: %v", tcp, err)
	}
	req, err := NATSRoundTrip(300)
	if err != nil || req.N != 300 || req.P50 < tcp.Min {
		t.Fatalf("nats round trip %+v: %v", req, err)
	}
	rate, err := NATSPubSub(50000)
	if err != nil || rate < 1000 {
		t.Fatalf("nats pub/sub %.0f msgs/s: %v", rate, err)
	}
}

func TestBarePerConn(t *testing.T) {
	per, err := BarePerConn(context.Background(), 500, 2)
	if err != nil {
		t.Fatal(err)
	}
	// A goroutine's stack and a 1 KiB buffer: a few KiB, never nothing and
	// never a megabyte.
	if per < 1024 || per > 64*1024 {
		t.Fatalf("bare server holds %.0f bytes per idle connection", per)
	}
}

func TestProcSampleAndListener(t *testing.T) {
	s, err := SampleProc(os.Getpid())
	if err != nil || s.RSS <= 0 || s.Threads <= 0 || s.FDs <= 0 {
		t.Fatalf("sample %+v: %v", s, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	pid, err := FindListener(port)
	if err != nil || pid != os.Getpid() {
		t.Fatalf("listener on %d: pid %d, %v (want %d)", port, pid, err, os.Getpid())
	}
	ln.Close()
	if _, err := FindListener(port); err == nil {
		t.Fatal("found a listener on a closed port")
	}
	if _, err := SampleProc(1 << 30); err == nil {
		t.Fatal("sampled a process that cannot exist")
	}
}

func TestLoopbackOnly(t *testing.T) {
	for in, want := range map[string]string{":8080": "127.0.0.1:8080", "localhost:1": "127.0.0.1:1", "127.0.0.9:2": "127.0.0.9:2", "[::1]:3": "[::1]:3"} {
		if got, err := loopbackAddr(in); err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"10.0.0.1:80", "example.com:80", "8080", "0.0.0.0:80"} {
		if _, err := loopbackAddr(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestFanOut(t *testing.T) {
	s, err := FanOut(200, 3)
	if err != nil || s.N != 3 || s.P50 <= 0 {
		t.Fatalf("fan-out %+v: %v", s, err)
	}
}

func TestBareStorm(t *testing.T) {
	d, err := BareStorm(context.Background(), 300, 2, 100)
	if err != nil || d <= 0 || d > 30*time.Second {
		t.Fatalf("bare storm %v: %v", d, err)
	}
}
