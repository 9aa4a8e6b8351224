package friends

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alo-presence/alo/internal/logtest"
)

// startNATS starts a real nats-server with JetStream storing in dir, on
// port (-1: a free one), and stops it when the test ends.
func startNATS(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func portOf(ns *server.Server) int { return ns.Addr().(*net.TCPAddr).Port }

func connect(t testing.TB, ns *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectJitter(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// backend is the deployment's writer of the bucket, on its own connection.
func backend(t testing.TB, nc *nats.Conn, bucket string) jetstream.KeyValue {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newLog() (*slog.Logger, *logtest.Buffer) { return logtest.New() }

// recorder is a Handler that keeps what it got.
type recorder struct {
	mu      sync.Mutex
	changes []Entry
	resyncs int
}

func (r *recorder) handler() Handler {
	return Handler{
		Change: func(e Entry) { r.mu.Lock(); r.changes = append(r.changes, e); r.mu.Unlock() },
		Resync: func(context.Context) { r.mu.Lock(); r.resyncs++; r.mu.Unlock() },
	}
}

func (r *recorder) snapshot() ([]Entry, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Entry(nil), r.changes...), r.resyncs
}

// startWatch runs Watch until the test ends and waits for its first watch.
func startWatch(t testing.TB, src *Source) *recorder {
	t.Helper()
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, r.handler()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Watch did not return after cancel")
		}
	})
	waitFor(t, 10*time.Second, "the first watch", func() bool { _, n := r.snapshot(); return n >= 1 })
	return r
}
