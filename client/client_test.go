package client_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alo-presence/alo/client"
	"github.com/alo-presence/alo/client/clienttest"
	"github.com/alo-presence/alo/shared"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clienttest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkNoLeaks fails the test if goroutines started during it are still
// running once it has cleaned up.
func checkNoLeaks(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	})
}

// running is a Client whose Run is in progress in the background.
type running struct {
	*client.Client
	cancel context.CancelFunc
	errc   chan error
}

func start(t testing.TB, cfg client.Config) *running {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	c, err := client.New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Client: c, cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		r.wait(t)
	})
	return r
}

// next returns the next event, failing unless it is of kind want.
func (r *running) next(t testing.TB, want client.EventKind) client.Event {
	t.Helper()
	select {
	case ev, ok := <-r.Events():
		if !ok {
			t.Fatalf("events closed, want %v", want)
		}
		if ev.Kind != want {
			t.Fatalf("got event %v %+v, want %v", ev.Kind, ev, want)
		}
		return ev
	case <-time.After(clienttest.Timeout):
		t.Fatalf("no %v event within %v", want, clienttest.Timeout)
	}
	return client.Event{}
}

// wait returns Run's result, draining events so Run is never blocked.
func (r *running) wait(t testing.TB) error {
	t.Helper()
	deadline := time.After(clienttest.Timeout)
	for {
		select {
		case <-r.Events():
		case err := <-r.errc:
			r.errc <- err // so Cleanup can wait again
			return err
		case <-deadline:
			t.Fatalf("Run did not return within %v", clienttest.Timeout)
			return nil
		}
	}
}

// handshake accepts the client's connection, checks its hello, sends the
// snapshot and ready, and checks the client reports them in order.
func handshake(t testing.TB, gw *clienttest.Gateway, r *running, hello string, online ...int64) *clienttest.Conn {
	t.Helper()
	conn := gw.Accept(t)
	conn.Expect(t, hello)
	r.next(t, client.EventConnected)
	for _, id := range online {
		conn.Send(t, `{"user_id":`+strconv.FormatInt(id, 10)+`,"online":true}`)
		if ev := r.next(t, client.EventPresence); ev.UserID != id || !ev.Online {
			t.Fatalf("snapshot event %+v, want %d online", ev, id)
		}
	}
	conn.Send(t, `{"ready":true,"session":"s1"}`)
	if ev := r.next(t, client.EventReady); ev.Session != "s1" {
		t.Fatalf("ready session %q, want s1", ev.Session)
	}
	return conn
}

func TestHelloSnapshotLiveUpdates(t *testing.T) {
	checkNoLeaks(t)
	gw := clienttest.NewGateway(t)
	r := start(t, client.Config{Addr: gw.Addr(), UserID: 1, Friends: []int64{3, 2, 2, 1}})

	conn := handshake(t, gw, r, `{"user_id":1,"friends":[2,3]}`, 2)

	conn.Send(t, `{"user_id":3,"online":true}`)
	if ev := r.next(t, client.EventPresence); ev.UserID != 3 || !ev.Online {
		t.Fatalf("got %+v, want 3 online", ev)
	}
	conn.Send(t, `{"user_id":2,"online":false}`)
	if ev := r.next(t, client.EventPresence); ev.UserID != 2 || ev.Online {
		t.Fatalf("got %+v, want 2 offline", ev)
	}
	conn.Send(t, `{"error":"bad_message","message":"not JSON"}`)
	if ev := r.next(t, client.EventError); ev.Code != "bad_message" || ev.Message != "not JSON" {
		t.Fatalf("got %+v", ev)
	}
	conn.Send(t, `{"something":"new"}`)
	if ev := r.next(t, client.EventUnknown); ev.Raw != `{"something":"new"}` {
		t.Fatalf("got %+v", ev)
	}
}

func TestSetFriendsSendsUpdate(t *testing.T) {
	checkNoLeaks(t)
	gw := clienttest.NewGateway(t)
	r := start(t, client.Config{Addr: gw.Addr(), UserID: 1, Friends: []int64{2}})
	conn := handshake(t, gw, r, `{"user_id":1,"friends":[2]}`)

	got, err := r.SetFriends([]int64{5, 2, 5, 1})
	if err != nil {
		t.Fatalf("SetFriends: %v", err)
	}
	if len(got) != 2 || got[0] != 2 || got[1] != 5 {
		t.Fatalf("SetFriends returned %v, want [2 5]", got)
	}
	conn.Expect(t, `{"friends":[2,5]}`)

	if _, err := r.SetFriends(nil); err != nil {
		t.Fatalf("SetFriends(nil): %v", err)
	}
	conn.Expect(t, `{"friends":[]}`)

	if _, err := r.SetFriends([]int64{3, -1}); !errors.Is(err, client.ErrBadID) {
		t.Fatalf("SetFriends with -1: err %v, want ErrBadID", err)
	}
}

func TestReconnectResendsCurrentFriends(t *testing.T) {
	checkNoLeaks(t)
	gw := clienttest.NewGateway(t)
	r := start(t, client.Config{Addr: gw.Addr(), UserID: 7, Friends: []int64{2, 3}})
	conn := handshake(t, gw, r, `{"user_id":7,"friends":[2,3]}`, 2)

	conn.Close() // the gateway goes away
	ev := r.next(t, client.EventDisconnected)
	if ev.Err == nil || ev.RetryIn <= 0 {
		t.Fatalf("disconnect event %+v: want an error and a retry delay", ev)
	}
	// Changed while disconnected (or racing the reconnect): either way the
	// next hello, or an update right after it, must carry the new list.
	if _, err := r.SetFriends([]int64{3, 4}); err != nil && !strings.Contains(err.Error(), "send friends") {
		t.Fatalf("SetFriends: %v", err)
	}
	conn2 := gw.Accept(t)
	if first := conn2.Next(t); !clienttest.JSONEqual(first, `{"user_id":7,"friends":[3,4]}`) {
		if !clienttest.JSONEqual(first, `{"user_id":7,"friends":[2,3]}`) {
			t.Fatalf("hello after reconnect %s", first)
		}
		conn2.Expect(t, `{"friends":[3,4]}`)
	}
	r.next(t, client.EventConnected)
	conn2.Send(t, `{"ready":true,"session":"s2"}`)
	if ev := r.next(t, client.EventReady); ev.Session != "s2" {
		t.Fatalf("ready %+v", ev)
	}
}

func TestBackoffGrowsAndResetsAfterReady(t *testing.T) {
	checkNoLeaks(t)
	gw := clienttest.NewGateway(t)
	var fails atomic.Int32
	fails.Store(4)
	dial := func(ctx context.Context, addr string) (client.Conn, error) {
		if fails.Add(-1) >= 0 {
			return nil, errors.New("refused")
		}
		return client.DialTCP(ctx, addr)
	}
	lo, hi := 4*time.Millisecond, 20*time.Millisecond
	r := start(t, client.Config{Addr: gw.Addr(), UserID: 1, Dial: dial, MinBackoff: lo, MaxBackoff: hi})

	for i, max := range []time.Duration{lo, 2 * lo, 4 * lo, hi} {
		ev := r.next(t, client.EventDisconnected)
		if ev.Attempt != i+1 || ev.RetryIn < max/2 || ev.RetryIn >= max {
			t.Fatalf("failure %d: attempt %d retry_in %v, want attempt %d and [%v, %v)", i+1, ev.Attempt, ev.RetryIn, i+1, max/2, max)
		}
	}
	conn := handshake(t, gw, r, `{"user_id":1,"friends":[]}`)
	conn.Close()
	if ev := r.next(t, client.EventDisconnected); ev.RetryIn >= lo {
		t.Fatalf("after a ready session retry_in %v, want < %v", ev.RetryIn, lo)
	}
}

func TestLogout(t *testing.T) {
	checkNoLeaks(t)
	gw := clienttest.NewGateway(t)
	r := start(t, client.Config{Addr: gw.Addr(), UserID: 1, Friends: []int64{2}})
	conn := handshake(t, gw, r, `{"user_id":1,"friends":[2]}`)

	if err := r.Logout(); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	conn.Expect(t, `{"online":false}`)
	conn.Close() // as the server does after a logout
	if err := r.wait(t); err != nil {
		t.Fatalf("Run after logout: %v", err)
	}
	if _, err := r.SetFriends([]int64{3}); !errors.Is(err, client.ErrLoggedOut) {
		t.Fatalf("SetFriends after logout: %v, want ErrLoggedOut", err)
	}
	if err := r.Logout(); err != nil {
		t.Fatalf("second Logout: %v", err)
	}
}

func TestLogoutClosesIfServerDoesNot(t *testing.T) {
	checkNoLeaks(t)
	gw := clienttest.NewGateway(t)
	r := start(t, client.Config{Addr: gw.Addr(), UserID: 1, LogoutTimeout: 20 * time.Millisecond})
	conn := handshake(t, gw, r, `{"user_id":1,"friends":[]}`)
	if err := r.Logout(); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	conn.Expect(t, `{"online":false}`)
	conn.WaitClosed(t)
	if err := r.wait(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestLogoutWhileDisconnected(t *testing.T) {
	checkNoLeaks(t)
	dial := func(context.Context, string) (client.Conn, error) { return nil, errors.New("refused") }
	r := start(t, client.Config{Addr: "127.0.0.1:1", UserID: 1, Dial: dial, MinBackoff: time.Hour})
	r.next(t, client.EventDisconnected)
	if err := r.Logout(); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if err := r.wait(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// errorBeforeReady starts a client, answers its hello with the error line,
// closes the connection, and returns the client and how long it says it will
// wait before the next attempt.
func errorBeforeReady(t *testing.T, gw *clienttest.Gateway, cfg client.Config, line string) (*running, time.Duration) {
	t.Helper()
	cfg.Addr = gw.Addr()
	r := start(t, cfg)
	conn := gw.Accept(t)
	conn.Next(t)
	r.next(t, client.EventConnected)
	conn.Send(t, line)
	conn.Close()
	r.next(t, client.EventError)
	return r, r.next(t, client.EventDisconnected).RetryIn
}

func TestRejectedHelloStopsRetrying(t *testing.T) {
	checkNoLeaks(t)
	gw := clienttest.NewGateway(t)
	r, retry := errorBeforeReady(t, gw, client.Config{UserID: 1}, `{"error":"too_many_friends","message":"limit is 5000"}`)
	if retry != 0 {
		t.Fatalf("rejected: retry_in %v, want 0", retry)
	}
	err := r.wait(t)
	if !errors.Is(err, client.ErrRejected) || !strings.Contains(err.Error(), "too_many_friends") {
		t.Fatalf("Run: %v, want ErrRejected with the code", err)
	}
}

func TestCancelStopsRun(t *testing.T) {
	checkNoLeaks(t)
	gw := clienttest.NewGateway(t)
	r := start(t, client.Config{Addr: gw.Addr(), UserID: 1})
	conn := handshake(t, gw, r, `{"user_id":1,"friends":[]}`)
	r.cancel()
	if err := r.wait(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	conn.WaitClosed(t)
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []client.Config{
		{UserID: 1},
		{Addr: "x:1", UserID: 0},
		{Addr: "x:1", UserID: -3},
		{Addr: "x:1", UserID: 1, Friends: []int64{0}},
	} {
		if _, err := client.New(cfg, nil); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestDialUnknownScheme(t *testing.T) {
	for _, addr := range []string{"gopher://x", "udp://127.0.0.1:1"} {
		if _, err := client.Dial(context.Background(), addr); !errors.Is(err, client.ErrNoTransport) {
			t.Errorf("Dial(%q): %v, want ErrNoTransport", addr, err)
		}
	}
}

func TestTCPConnFraming(t *testing.T) {
	checkNoLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		// Keep-alives, CRLF, and a line too long for the client to accept.
		nc.Write([]byte("\n\r\n  \n{\"a\":1}\r\n{\"b\":2}\n" + strings.Repeat("x", 2<<20) + "\n"))
	}()
	conn, err := client.Dial(context.Background(), "tcp://"+ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, want := range []string{`{"a":1}`, `{"b":2}`} {
		got, err := conn.ReadMessage()
		if err != nil || string(got) != want {
			t.Fatalf("ReadMessage = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := conn.ReadMessage(); err == nil {
		t.Fatal("oversized line: no error")
	}
}

func TestShutdownBeforeReadyIsRetried(t *testing.T) {
	checkNoLeaks(t)
	gw := clienttest.NewGateway(t)
	r, retry := errorBeforeReady(t, gw, client.Config{UserID: 1, Friends: []int64{2}}, `{"error":"shutdown","message":"gateway stopping"}`)
	if retry <= 0 {
		t.Fatalf("after shutdown: retry_in %v, want a retry", retry)
	}
	handshake(t, gw, r, `{"user_id":1,"friends":[2]}`)
}

// SetStatus sends the status, the hello carries the initial one and every
// later hello the current one, friends' statuses and last seen arrive on
// events, and a status the server would refuse is an error sent nowhere.
func TestStatus(t *testing.T) {
	checkNoLeaks(t)
	gw := clienttest.NewGateway(t)
	r := start(t, client.Config{Addr: gw.Addr(), UserID: 1, Friends: []int64{2}, Status: shared.StatusDND, Text: "focus"})
	conn := handshake(t, gw, r, `{"user_id":1,"friends":[2],"status":"dnd","text":"focus"}`)

	if err := r.SetStatus(shared.StatusAway, "in a meeting"); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
	conn.Expect(t, `{"status":"away","text":"in a meeting"}`)
	for _, bad := range []string{"a\nb", strings.Repeat("x", 129)} {
		if err := r.SetStatus(shared.StatusAway, bad); err == nil {
			t.Fatalf("SetStatus(%q) accepted", bad)
		}
	}
	if err := r.SetStatus(9, ""); !errors.Is(err, client.ErrBadStatus) {
		t.Fatalf("SetStatus(9): %v, want ErrBadStatus", err)
	}
	if st, text := r.Status(); st != shared.StatusAway || text != "in a meeting" {
		t.Fatalf("Status() = %v %q", st, text)
	}

	conn.Send(t, `{"user_id":2,"online":true,"status":"away","text":"lunch"}`)
	if ev := r.next(t, client.EventPresence); !ev.Online || ev.Status != shared.StatusAway || ev.Text != "lunch" {
		t.Fatalf("got %+v, want 2 away lunch", ev)
	}
	conn.Send(t, `{"user_id":2,"online":false,"last_seen":"2026-12-02T17:04:05Z"}`)
	if ev := r.next(t, client.EventPresence); ev.Online || !ev.LastSeen.Equal(time.Date(2026, 12, 2, 17, 4, 5, 0, time.UTC)) {
		t.Fatalf("got %+v, want 2 offline, last seen 17:04:05", ev)
	}

	conn.Close()
	r.next(t, client.EventDisconnected)
	gw.Accept(t).Expect(t, `{"user_id":1,"friends":[2],"status":"away","text":"in a meeting"}`)
}
