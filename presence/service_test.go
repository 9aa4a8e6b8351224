package presence_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// natsServer starts an embedded NATS server on a random loopback port with
// the given payload limit (0: the default).
func natsServer(t *testing.T, maxPayload int32) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true, MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(alotest.Timeout) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// logBuffer is a slog handler's destination that tests can read while the
// service writes to it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startPresence runs a presence service on its own connection until the test
// ends, and returns it.
func startPresence(t *testing.T, ns *server.Server, log *slog.Logger, cfg presence.Config) (*presence.Service, func()) {
	t.Helper()
	svc, err := presence.New(alotest.Conn(t, ns), log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("presence: %v", err)
			}
		case <-time.After(alotest.Timeout):
			t.Error("presence did not stop")
		}
	}
	t.Cleanup(stop)
	return svc, stop
}

// fakeGateway speaks for a gateway on the bus, and keeps what presence sends
// it.
type fakeGateway struct {
	t        *testing.T
	nc       *nats.Conn
	subjects shared.Subjects
	id, boot string

	mu     sync.Mutex
	states map[string]*shared.SessionState // merged per session
	sizes  []int                           // of every control message
	syncs  int
}

func newFakeGateway(t *testing.T, ns *server.Server, id, boot string) *fakeGateway {
	t.Helper()
	g := &fakeGateway{t: t, nc: alotest.Conn(t, ns), subjects: shared.MustSubjects(""), id: id, boot: boot,
		states: map[string]*shared.SessionState{}}
	_, err := g.nc.Subscribe(g.subjects.Gateway(id), func(m *nats.Msg) {
		var c shared.Control
		if err := shared.UnmarshalControl(m.Data, &c); err != nil {
			t.Errorf("bad control message: %v", err)
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.sizes = append(g.sizes, len(m.Data))
		if c.Sync {
			g.syncs++
		}
		for _, st := range c.Sessions {
			have := g.states[st.Session]
			if have == nil {
				have = &shared.SessionState{Session: st.Session}
				g.states[st.Session] = have
			}
			have.Online = append(have.Online, st.Online...)
			have.Offline = append(have.Offline, st.Offline...)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *fakeGateway) send(evs ...shared.Event) {
	g.t.Helper()
	data, err := shared.MarshalBatch(&shared.Batch{Gateway: g.id, Boot: g.boot, Events: evs})
	if err != nil {
		g.t.Fatal(err)
	}
	if err := g.nc.Publish(g.subjects.Events(), data); err != nil {
		g.t.Fatal(err)
	}
}

func (g *fakeGateway) state(sid string) (shared.SessionState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.states[sid]
	if st == nil {
		return shared.SessionState{}, false
	}
	return *st, true
}

// A session whose snapshot alone is larger than the NATS payload limit must
// not take the other sessions of its control message down with it: every
// control message fits the limit, the big snapshot arrives whole in parts,
// and the small session beside it gets its own. Before, presence cut by an
// estimate (48 + 20 bytes per id, at 256 KiB) and the one oversized publish
// failed, losing both.
func TestControlMessagesFitThePayloadLimit(t *testing.T) {
	const limit = 4096
	ns := natsServer(t, limit)
	startPresence(t, ns, cli.Discard(), presence.Config{Rebuild: -1})
	g := newFakeGateway(t, ns, "g1", "b1")

	const friends = 1000
	var all []int64
	for i := 0; i < friends; i += 40 {
		var evs []shared.Event
		for u := 1000 + int64(i); u < 1000+int64(i)+40; u++ {
			evs = append(evs, shared.Event{Type: shared.EventOpen, Session: fmt.Sprint("u", u), User: u})
			all = append(all, u)
		}
		g.send(evs...)
	}
	alotest.WaitFor(t, alotest.Timeout, "the friends registered", func() bool {
		_, ok := g.state(fmt.Sprint("u", 1000+friends-1))
		return ok
	})
	// The union of a user's sessions' lists makes a snapshot larger than any
	// batch that brought it.
	g.send(shared.Event{Type: shared.EventOpen, Session: "half", User: 1, Friends: all[:friends/2]})
	g.send(
		shared.Event{Type: shared.EventOpen, Session: "big", User: 1, Friends: all[friends/2:]},
		shared.Event{Type: shared.EventOpen, Session: "small", User: 2, Friends: []int64{1000}},
	)
	alotest.WaitFor(t, alotest.Timeout, "both snapshots", func() bool {
		big, ok1 := g.state("big")
		small, ok2 := g.state("small")
		return ok1 && ok2 && len(big.Online) == friends && len(small.Online) == 1
	})
	big, _ := g.state("big")
	slices.Sort(big.Online)
	if !slices.Equal(big.Online, all) {
		t.Fatalf("big snapshot: %d ids, not the friends", len(big.Online))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range g.sizes {
		if n > limit {
			t.Fatalf("a control message of %d bytes, limit %d", n, limit)
		}
	}
	t.Logf("%d control messages, largest %d bytes", len(g.sizes), slices.Max(g.sizes))
}

// waitLog waits for a log line containing every one of parts.
func waitLog(t *testing.T, b *logBuffer, parts ...string) {
	t.Helper()
	alotest.WaitFor(t, alotest.Timeout, fmt.Sprintf("a log line with %q", parts), func() bool {
		for _, line := range strings.Split(b.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return true
			}
		}
		return false
	})
}
