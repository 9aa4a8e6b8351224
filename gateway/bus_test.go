package gateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/internal/logtest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

var subjects = shared.MustSubjects("")

// loggedGateway runs a gateway on its own connection to ns, logging at debug
// level into the returned buffer, and returns it with its address and a
// function that stops it.
func loggedGateway(t *testing.T, ns *server.Server, cfg gateway.Config) (*gateway.Server, string, *logtest.Buffer, *nats.Conn, func()) {
	t.Helper()
	logs := &logtest.Buffer{}
	nc := alotest.Conn(t, ns)
	srv, err := gateway.New(nc, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, gateway.Listeners{TCP: ln}); err != nil {
			t.Errorf("gateway: %v", err)
		}
	}()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(alotest.Timeout):
			t.Errorf("gateway did not stop")
		}
	})
	t.Cleanup(stop)
	return srv, ln.Addr().String(), logs, nc, stop
}

// eventLog records every batch published on the events subject.
type eventLog struct {
	mu      sync.Mutex
	batches []shared.Batch
	sizes   []int
	bytes   atomic.Int64
	syncs   atomic.Int64 // sync_begin events seen
}

func watchEvents(t *testing.T, ns *server.Server) *eventLog {
	t.Helper()
	nc := alotest.Conn(t, ns)
	l := &eventLog{}
	sub, err := nc.Subscribe(subjects.AllEvents(), func(m *nats.Msg) {
		var b shared.Batch
		if err := shared.UnmarshalBatch(m.Data, &b); err != nil {
			t.Errorf("bad batch: %v", err)
			return
		}
		l.bytes.Add(int64(len(m.Data)))
		for _, ev := range b.Events {
			if ev.Type == shared.EventSyncBegin {
				l.syncs.Add(1)
			}
		}
		l.mu.Lock()
		l.batches = append(l.batches, b)
		l.sizes = append(l.sizes, len(m.Data))
		l.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1) // count everything, however much
	nc.Flush()
	return l
}

// syncOf returns the events of the last complete resync seen (sync_begin to
// sync_end of one gen), or nil if none is complete.
func (l *eventLog) syncOf() []shared.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var cur []shared.Event
	var gen uint64
	var done []shared.Event
	for _, b := range l.batches {
		for _, ev := range b.Events {
			switch {
			case ev.Type == shared.EventSyncBegin:
				cur, gen = []shared.Event{ev}, ev.Gen
			case ev.Type == shared.EventSyncEnd && ev.Gen == gen && cur != nil:
				done, cur = append(cur, ev), nil
			case ev.Sync && ev.Gen == gen && cur != nil:
				cur = append(cur, ev)
			}
		}
	}
	return done
}

// awaitSync asks the gateway for a resync and returns it once seen whole.
func awaitSync(t *testing.T, nc *nats.Conn, l *eventLog, gw string) []shared.Event {
	t.Helper()
	before := l.syncs.Load()
	ask, _ := shared.MarshalControl(&shared.Control{Sync: true})
	if err := nc.Publish(subjects.Gateway(gw), ask); err != nil {
		t.Fatal(err)
	}
	var evs []shared.Event
	alotest.WaitFor(t, alotest.Timeout, "a whole resync", func() bool {
		evs = l.syncOf()
		return l.syncs.Load() > before && evs != nil && evs[0].Gen > uint64(before)
	})
	return evs
}

// Anyone may publish state messages to a user's subject, and what a session
// was told travels in every resync. A forged flood must not grow it beyond
// the session's friends, and a friend-list update prunes it.
func TestForgedStatesDoNotGrowKnown(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{ID: "g"})
	events := watchEvents(t, ns)
	nc := alotest.Conn(t, ns)
	alotest.Connect(t, addr, 2)
	alotest.Connect(t, addr, 3)
	c, snap := alotest.Connect(t, addr, 1, 2, 3)
	if len(snap) != 2 {
		t.Fatalf("snapshot %v, want [2 3]", snap)
	}

	const forged = 3000
	for i := range forged {
		nc.Publish(subjects.User(1), fmt.Appendf(nil, `{"user_id":%d,"online":true}`, 1000+i))
	}
	for range forged { // forwarded: anyone may reach a user's sessions
		if m := c.Next(); !m.IsState() {
			t.Fatalf("got %s, want a forwarded state", m)
		}
	}
	known := func() []int64 {
		for _, ev := range awaitSync(t, nc, events, "g") {
			if ev.User == 1 {
				return ev.Known
			}
		}
		t.Fatal("user 1 not resent")
		return nil
	}
	if k := known(); fmt.Sprint(k) != "[2 3]" {
		t.Fatalf("known holds %d ids after a forged flood, want [2 3] (head %v)", len(k), k[:min(len(k), 5)])
	}
	c.Send(`{"friends": [3, 4]}`)
	c.ExpectState(4, false) // the update is applied
	if k := known(); fmt.Sprint(k) != "[3]" {
		t.Fatalf("known %v after dropping 2 from the friends, want [3]", k)
	}
}

// smallNATS starts a NATS server whose max_payload is 64 KiB, so that
// batches reach it cheaply.
func smallNATS(t *testing.T) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true, MaxPayload: 64 << 10}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(alotest.Timeout) {
		t.Fatal("nats did not start")
	}
	return ns
}

// A resync of sessions with large friend lists is split by real bytes under
// the server's max_payload (64 KiB here), so every publish succeeds and no
// session flaps.
func TestResyncSplitsByPayload(t *testing.T) {
	ns := smallNATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{ID: "g"})
	events := watchEvents(t, ns)
	nc := alotest.Conn(t, ns)

	// 24 sessions, each listing 1,500 offline friends of 19 digits: 30 KB
	// an open, 720 KB a resync.
	const sessions, friends = 24, 1500
	big := make([]int64, friends)
	for i := range big {
		big[i] = 1_000_000_000_000_000_000 + int64(i)
	}
	users := make([]int64, sessions)
	for i := range users {
		users[i] = int64(10 + i)
		alotest.Connect(t, addr, users[i], big...)
	}
	w, snap := alotest.Connect(t, addr, 1, append(users, 2)...)
	if len(snap) != sessions {
		t.Fatalf("snapshot has %d, want %d", len(snap), sessions)
	}

	evs := awaitSync(t, nc, events, "g")
	if n := len(evs) - 2; n != sessions+1 {
		t.Fatalf("resync carried %d sessions, want %d", n, sessions+1)
	}
	events.mu.Lock()
	most := 0
	for _, n := range events.sizes {
		most = max(most, n)
	}
	events.mu.Unlock()
	if most > int(nc.MaxPayload()) {
		t.Fatalf("a publish of %d bytes, over max_payload %d", most, nc.MaxPayload())
	}
	t.Logf("largest publish %d bytes of max_payload %d", most, nc.MaxPayload())
	// Nothing flapped: the next thing the watcher hears is a new friend.
	alotest.Connect(t, addr, 2)
	w.ExpectState(2, true)
}

// A session whose open alone exceeds max_payload (a deployment whose
// --max-friends does not fit its bus) is closed with an error; it costs the
// sessions published with it nothing.
func TestOversizedSessionIsRefused(t *testing.T) {
	ns := smallNATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{MaxMessageBytes: 256 << 10})
	w, _ := alotest.Connect(t, addr, 1, 2)
	big := make([]int64, 4000) // 80 KB of ids
	for i := range big {
		big[i] = 1_000_000_000_000_000_000 + int64(i)
	}
	c := alotest.Dial(t, addr)
	c.Send(alotest.Hello(3, big...))
	c.ExpectError(shared.CodeTooManyFriends)
	c.ExpectClosed()
	alotest.Connect(t, addr, 2)
	w.ExpectState(2, true)
}

// A flood of presence.up (anyone can publish it) costs a bounded number of
// resyncs: requests are merged, one resync per ResyncInterval at most, and a
// login meanwhile still gets its ready.
func TestResyncRequestsCoalesce(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{ID: "g"})
	// ALO_COALESCE_SESSIONS=3000 reproduces the review's figure.
	sessions, floods := 200, 5000
	if n, err := strconv.Atoi(os.Getenv("ALO_COALESCE_SESSIONS")); err == nil {
		sessions = n
	}
	for i := range sessions {
		alotest.Connect(t, addr, int64(10+i), 1, 2, 3)
	}
	marker, _ := alotest.Connect(t, addr, 1)
	events := watchEvents(t, ns)
	nc := alotest.Conn(t, ns)

	// The flood is spread over a second, as a real one would be: a burst
	// that arrives while one resync runs was merged even before.
	start := time.Now()
	for i := range floods {
		nc.Publish(subjects.PresenceUp(), nil)
		if i%100 == 99 {
			nc.Flush()
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The marker's message comes after the flood on the gateway's inbox.
	nc.Publish(subjects.User(1), []byte(`{"user_id":7,"online":true}`))
	nc.Flush()
	alotest.Connect(t, addr, 5) // a login during the flood gets ready
	marker.ExpectState(7, true)
	// The last request may wait for the interval; then nothing more comes.
	interval := gateway.DefaultHeartbeat / 2
	// This is a window to count in, not a wait for an effect: the bound
	// grows with it, so a slow machine cannot make the test fail.
	time.Sleep(interval + 200*time.Millisecond)
	elapsed := time.Since(start)
	syncs, sent := events.syncs.Load(), events.bytes.Load()
	t.Logf("%d presence.up over %d sessions: %d resyncs, %d bytes published in %v", floods, sessions, syncs, sent, elapsed.Round(time.Millisecond))
	if bound := 2 + int64(elapsed/interval); syncs > bound {
		t.Fatalf("%d resyncs in %v, want at most %d", syncs, elapsed, bound)
	}
}

// Every line a bus message can make the gateway log is rate-limited: a
// flood of garbage on its control subject, its users' subjects and
// presence.up costs a few lines, not one each.
func TestBusGarbageLogsBounded(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addr, logs, _, _ := loggedGateway(t, ns, gateway.Config{ID: "g"})
	c, _ := alotest.Connect(t, addr, 1)
	nc := alotest.Conn(t, ns)
	const n = 3000
	start := time.Now()
	for i := range n {
		nc.Publish(subjects.Gateway("g"), fmt.Appendf(nil, `{"sessions": %d`, i))
		nc.Publish(subjects.User(1), []byte("not json"))
		nc.Publish(subjects.User(1), []byte(`{"error": "shutdown", "message": "log in at http://evil.example/"}`))
		nc.Publish(subjects.Push(1), []byte(`[1]`))
		nc.Publish(subjects.PresenceUp(), nil)
	}
	nc.Publish(subjects.User(1), []byte(`{"user_id":7,"online":true}`))
	c.ExpectState(7, true) // the gateway has read the whole flood
	bound := 2 + int(time.Since(start)/shared.DefaultLogInterval)
	for _, line := range []string{"bad control message", "not a state message", "push that is not one JSON object", "presence announced itself"} {
		if got := len(logs.Lines(line)); got == 0 || got > bound {
			t.Errorf("%q logged %d times for %d messages, want 1 to %d", line, got, n, bound)
		}
	}
}

// Two gateways started with one id: the newcomer finds the established one
// at start, logs an error naming it, publishes nothing, refuses sessions and
// is not ready, while the established one's users see nothing. A gateway
// restarted under the id after the established one died (killed: it
// answers nothing) starts normally.
func TestDuplicateGatewayID(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	events := watchEvents(t, ns)
	cfg := gateway.Config{ID: "dup", Heartbeat: 100 * time.Millisecond}
	_, addrA, _, ncA, _ := loggedGateway(t, ns, cfg)
	_, addrW, _ := alotest.Gateway(t, ns, gateway.Config{ID: "w"})
	alotest.Connect(t, addrA, 1)
	w, snap := alotest.Connect(t, addrW, 2, 1)
	if len(snap) != 1 {
		t.Fatalf("snapshot %v, want [1]", snap)
	}
	// batchesOf returns how many batches each boot published under id dup.
	batchesOf := func() map[string]int {
		events.mu.Lock()
		defer events.mu.Unlock()
		boots := map[string]int{}
		for _, b := range events.batches {
			if b.Gateway == "dup" {
				boots[b.Boot]++
			}
		}
		return boots
	}
	var bootA string
	for boot := range batchesOf() {
		bootA = boot
	}

	b, addrB, logsB, _, _ := loggedGateway(t, ns, cfg)
	alotest.WaitFor(t, alotest.Timeout, "the newcomer to stand down", func() bool {
		err := b.Ready(context.Background())
		return err != nil && strings.Contains(err.Error(), "another running gateway has this id")
	})
	if lines := logsB.Lines("level=ERROR"); len(lines) == 0 || !strings.Contains(lines[0], "other_boot="+bootA) {
		t.Fatalf("newcomer logged %q, want an error naming boot %s", lines, bootA)
	}
	c := alotest.Dial(t, addrB)
	c.Send(alotest.Hello(3))
	c.ExpectError(shared.CodeUnavailable)
	// Over five of the established gateway's heartbeats, only its boot
	// publishes under the id, and its user's watcher hears nothing.
	seen := batchesOf()[bootA]
	alotest.WaitFor(t, alotest.Timeout, "five heartbeats", func() bool { return batchesOf()[bootA] >= seen+5 })
	if boots := batchesOf(); len(boots) != 1 {
		t.Fatalf("batches per boot under id dup: %v, want only %s's", boots, bootA)
	}
	if p := w.Pending(); len(p) != 0 {
		t.Fatalf("the watcher heard %v", p)
	}

	// The established gateway dies without a word; a new run of the id
	// starts normally (the stood-down one stays down).
	ncA.Close()
	cNew, addrC, _, _, _ := loggedGateway(t, ns, cfg)
	alotest.WaitFor(t, alotest.Timeout, "the restarted gateway to be ready", func() bool {
		return cNew.Ready(context.Background()) == nil
	})
	alotest.Connect(t, addrC, 1)
	// User 1 left with the dead run, then came back on the new one.
	w.ExpectStateSkipping(1, true, func(m alotest.Msg) bool { return m.IsState() && *m.UserID == 1 && !*m.Online })
}
