package gateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alo-presence/alo/friends"
	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// Trusted friend lists from a real JetStream KV bucket (--friends kv).

// jetStreamNATS starts a NATS server with JetStream storing in dir, on port
// (server.RANDOM_PORT: any), stopped when the test ends.
func jetStreamNATS(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(alotest.Timeout) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// friendsBucket creates the bucket as the deployment's backend would, on
// its own connection, and returns the backend's handle on it.
func friendsBucket(t *testing.T, ns *server.Server) jetstream.KeyValue {
	t.Helper()
	js, err := jetstream.New(alotest.Conn(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), alotest.Timeout)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: shared.DefaultFriendsBucket, History: 1})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// put sets user's list in the bucket, as `nats kv put alo_friends <user> <list>`.
func put(t *testing.T, kv jetstream.KeyValue, user int64, list string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), alotest.Timeout)
	defer cancel()
	if _, err := kv.Put(ctx, strconv.FormatInt(user, 10), []byte(list)); err != nil {
		t.Fatalf("put %d %s: %v", user, list, err)
	}
}

func del(t *testing.T, kv jetstream.KeyValue, user int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), alotest.Timeout)
	defer cancel()
	if err := kv.Delete(ctx, strconv.FormatInt(user, 10)); err != nil {
		t.Fatalf("delete %d: %v", user, err)
	}
}

// kvGateway runs a gateway whose friend lists come from the bucket, on its
// own connection, and returns it and its address.
func kvGateway(t *testing.T, ns *server.Server, cfg gateway.Config) (*gateway.Server, string) {
	t.Helper()
	nc := alotest.Conn(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), alotest.Timeout)
	defer cancel()
	src, err := friends.Open(ctx, nc, friends.Config{MaxFriends: cfg.MaxFriends}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg.FriendStore = src
	srv, addr, _ := alotest.GatewayOn(t, nc, cfg)
	return srv, addr
}

// kvConnect opens a session with a hello that has no friends (the bucket
// has them) and returns it with the snapshot's online friends.
func kvConnect(t *testing.T, addr string, user int64) (*alotest.Client, []int64) {
	t.Helper()
	c := alotest.Dial(t, addr)
	c.User = user
	c.Send(fmt.Sprintf(`{"user_id": %d}`, user))
	return c, c.AwaitReady()
}

// A hello's list is the bucket's; the client's own is refused, not fatally,
// before the snapshot, and so is a later update.
func TestKVFriendsHello(t *testing.T) {
	ns := jetStreamNATS(t, t.TempDir(), server.RANDOM_PORT)
	kv := friendsBucket(t, ns)
	alotest.Presence(t, ns, presence.Config{})
	_, gw := kvGateway(t, ns, gateway.Config{})
	put(t, kv, 1, "[2, 3, 3, 1]") // normalized: [2,3]
	put(t, kv, 2, "[1]")

	c2, snap := kvConnect(t, gw, 2)
	if len(snap) != 0 {
		t.Fatalf("2's snapshot %v, want none", snap)
	}
	c1 := alotest.Dial(t, gw)
	c1.Send(alotest.Hello(1, 99))
	c1.ExpectError(shared.CodeFriendsManaged)
	if snap := c1.AwaitReady(); !slices.Equal(snap, []int64{2}) {
		t.Fatalf("1's snapshot %v, want [2] from the bucket", snap)
	}
	c2.ExpectState(1, true)

	// 99, on 1's own list only, is not a friend: its arrival is not told
	// (3's, after it, is); nor after 1 asks again.
	c99, _ := kvConnect(t, gw, 99)
	c3, _ := kvConnect(t, gw, 3)
	c1.ExpectState(3, true)
	c1.Send(`{"friends": [99]}`)
	c1.ExpectError(shared.CodeFriendsManaged)
	c99.Close()
	c3.Close()
	c1.ExpectState(3, false)
	c2.ExpectQuiet(50 * time.Millisecond)
}

// A put, an update and a delete of the bucket reach online sessions on two
// gateways as friend-list updates: newly added friends' current state,
// offline included, and nothing about friends dropped (watchers policy).
// The gateways' digests follow: presence asks for no resend.
func TestKVFriendsChanges(t *testing.T) {
	ns := jetStreamNATS(t, t.TempDir(), server.RANDOM_PORT)
	kv := friendsBucket(t, ns)
	events := watchEvents(t, ns)
	alotest.Presence(t, ns, presence.Config{})
	hb := gateway.Config{Heartbeat: 50 * time.Millisecond}
	_, a := kvGateway(t, ns, hb)
	gwB, b := kvGateway(t, ns, hb)

	c1, _ := kvConnect(t, a, 1)
	c1b, _ := kvConnect(t, b, 1) // the same user on the other gateway
	c2, _ := kvConnect(t, b, 2)
	// settle returns once presence has every change put before it from
	// both gateways: a change of a barrier user's list, one per gateway
	// (one user on both would be told by whichever update came first,
	// lists being per user), is applied after them in the bucket's order
	// and published after them in each gateway's.
	ba, _ := kvConnect(t, a, 11)
	bb, _ := kvConnect(t, b, 12)
	next := int64(1000)
	settle := func() {
		t.Helper()
		next++
		put(t, kv, 11, fmt.Sprintf("[%d]", next))
		put(t, kv, 12, fmt.Sprintf("[%d]", next))
		ba.ExpectState(next, false)
		bb.ExpectState(next, false)
	}

	put(t, kv, 1, "[2]")
	c1.ExpectState(2, true)
	c1b.ExpectState(2, true)
	put(t, kv, 1, "[2,3]")
	c1.ExpectState(3, false) // newly added, offline: said so
	c1b.ExpectState(3, false)
	c3, _ := kvConnect(t, b, 3)
	c1.ExpectState(3, true)
	c1b.ExpectState(3, true)

	put(t, kv, 2, "[1]") // 2 is on b only
	c2.ExpectState(1, true)

	put(t, kv, 1, "[3, 5]") // 2 dropped: 2's leaving is no longer told
	c1.ExpectState(5, false)
	c1b.ExpectState(5, false)
	settle()
	c2.Close()
	// 2's close is queued once b forgets the session; 3's, on b too,
	// comes after it, and so does what presence says of each.
	alotest.WaitFor(t, alotest.Timeout, "2's session gone", func() bool { return gwB.Stats().Sessions == 3 })

	// A delete is no friends. (A put of the same key right after it could
	// replace it before a lagging watcher reads it, history being 1: the
	// watcher then delivers only the put, which is allowed. So the barrier
	// is other keys, which the watchers deliver after the delete.)
	del(t, kv, 1)
	settle()
	c3.Close()
	put(t, kv, 1, "[4]")
	c1.ExpectState(4, false) // the first word since: neither 2's leaving nor 3's was told
	c1b.ExpectState(4, false)

	// Digests: the events the gateways published describe what presence
	// holds, so heartbeats after the changes ask for no resend.
	syncs := events.syncs.Load()
	heartbeats := func() int {
		events.mu.Lock()
		defer events.mu.Unlock()
		n := 0
		for _, b := range events.batches {
			for _, ev := range b.Events {
				if ev.Type == shared.EventHeartbeat {
					n++
				}
			}
		}
		return n
	}
	seen := heartbeats()
	alotest.WaitFor(t, alotest.Timeout, "ten more heartbeats", func() bool { return heartbeats() >= seen+10 })
	if got := events.syncs.Load(); got != syncs {
		t.Errorf("%d resends after the changes: a digest disagreed", got-syncs)
	}
}

// Under mutual, trusted lists cannot be bypassed: a client cannot put
// itself on someone's list, neither by its own hello's or update's friends
// nor by opening a session as that someone. Only the bucket can, and when
// it drops the watcher again, the watcher is told offline.
func TestKVFriendsMutual(t *testing.T) {
	ns := jetStreamNATS(t, t.TempDir(), server.RANDOM_PORT)
	kv := friendsBucket(t, ns)
	alotest.Presence(t, ns, presence.Config{Policy: presence.PolicyMutual})
	_, gw := kvGateway(t, ns, gateway.Config{})
	const attacker, victim, other = 10, 20, 30
	put(t, kv, attacker, fmt.Sprintf("[%d, %d]", victim, other))
	put(t, kv, victim, fmt.Sprintf("[%d]", other))
	put(t, kv, other, fmt.Sprintf("[%d]", attacker))

	kvConnect(t, gw, victim)
	w := alotest.Dial(t, gw)
	w.Send(alotest.Hello(attacker, victim))
	w.ExpectError(shared.CodeFriendsManaged)
	if snap := w.AwaitReady(); len(snap) != 0 {
		t.Fatalf("attacker's snapshot %v, want none: the victim does not list them", snap)
	}
	// As the victim, claiming the attacker as a friend.
	as := alotest.Dial(t, gw)
	as.Send(alotest.Hello(victim, attacker))
	as.ExpectError(shared.CodeFriendsManaged)
	as.AwaitReady()
	as.Send(fmt.Sprintf(`{"friends": [%d]}`, attacker))
	as.ExpectError(shared.CodeFriendsManaged)
	w.Send(fmt.Sprintf(`{"friends": [%d]}`, victim))
	w.ExpectError(shared.CodeFriendsManaged)
	// The barrier: other lists the attacker, and its arrival is the
	// first thing the attacker hears.
	kvConnect(t, gw, other)
	w.ExpectState(other, true)

	put(t, kv, victim, fmt.Sprintf("[%d, %d]", other, attacker))
	w.ExpectState(victim, true)
	put(t, kv, victim, fmt.Sprintf("[%d]", other))
	w.ExpectState(victim, false) // dropped by the victim: told offline
}

// When the bucket cannot be read at hello, the hello is refused with
// unavailable and the connection closed: a session with no friends would
// show a wrong, empty world. Sessions already open are not touched.
func TestKVFriendsUnavailable(t *testing.T) {
	ns := jetStreamNATS(t, t.TempDir(), server.RANDOM_PORT)
	kv := friendsBucket(t, ns)
	alotest.Presence(t, ns, presence.Config{})
	_, gw := kvGateway(t, ns, gateway.Config{})
	put(t, kv, 1, "[2]")
	c1, _ := kvConnect(t, gw, 1)

	js, err := jetstream.New(alotest.Conn(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(context.Background(), shared.DefaultFriendsBucket); err != nil {
		t.Fatal(err)
	}
	c2 := alotest.Dial(t, gw)
	c2.Send(`{"user_id": 2}`)
	c2.ExpectError(shared.CodeUnavailable)
	c2.ExpectClosed()
	c1.ExpectQuiet(50 * time.Millisecond)
}

// NATS restarted (same port, same store): the gateway watches the bucket
// again, so a change made once it is back reaches an online session.
func TestKVFriendsNATSRestart(t *testing.T) {
	dir := t.TempDir()
	ns := jetStreamNATS(t, dir, server.RANDOM_PORT)
	port := ns.Addr().(*net.TCPAddr).Port
	kv := friendsBucket(t, ns)
	stopPresence := alotest.Presence(t, ns, presence.Config{})
	_, gw := kvGateway(t, ns, gateway.Config{})
	put(t, kv, 1, "[2]")
	c1, _ := kvConnect(t, gw, 1)
	c2, _ := kvConnect(t, gw, 2)
	c1.ExpectState(2, true)

	ns.Shutdown()
	ns.WaitForShutdown()
	jetStreamNATS(t, dir, port)
	// The backend's connection reconnects by itself; the put may land
	// before the gateway's new watch (its resync finds it) or after.
	alotest.WaitFor(t, alotest.Timeout, "the bucket back", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := kv.Put(ctx, "3", []byte("[1]"))
		return err == nil
	})
	put(t, kv, 1, "[2,3]")
	// After a fault the system may repeat a state it sent: 2 online again.
	repeat := func(m alotest.Msg) bool { return m.IsState() && *m.UserID == 2 && *m.Online }
	c1.ExpectStateSkipping(3, false, repeat)
	c3, _ := kvConnect(t, gw, 3)
	c1.ExpectStateSkipping(3, true, repeat)
	c3.Close()
	c1.ExpectStateSkipping(3, false, repeat)
	c2.Close()
	c1.ExpectStateSkipping(2, false, repeat)
	// Presence's last flush waits for a NATS that is up: stop it before
	// the restarted server, which the cleanups would stop first.
	stopPresence()
}

// racingStore is the real bucket, with one change forced into the window
// between a hello's lookup and its registration: after reading user race's
// list, Lookup puts a new one and waits for the gateway's watcher to have
// handled it before returning the old one.
type racingStore struct {
	*friends.Source
	kv        jetstream.KeyValue
	race      int64
	list      string
	watching  chan struct{}
	delivered chan uint64 // revisions of race's changes, once handled
}

func (r *racingStore) Watch(ctx context.Context, h friends.Handler) error {
	change, resync := h.Change, h.Resync
	h.Change = func(e friends.Entry) {
		change(e)
		if e.User == r.race {
			r.delivered <- e.Revision
		}
	}
	h.Resync = func(ctx context.Context) {
		resync(ctx)
		select {
		case r.watching <- struct{}{}:
		default:
		}
	}
	return r.Source.Watch(ctx, h)
}

func (r *racingStore) Lookup(ctx context.Context, user int64) (friends.Entry, error) {
	e, err := r.Source.Lookup(ctx, user)
	if err != nil || user != r.race {
		return e, err
	}
	rev, err := r.kv.Put(ctx, strconv.FormatInt(user, 10), []byte(r.list))
	if err != nil {
		return e, err
	}
	for {
		select {
		case got := <-r.delivered:
			if got >= rev {
				return e, nil // older than what the watcher has handled
			}
		case <-ctx.Done():
			return e, ctx.Err()
		}
	}
}

// A change that the watcher handles while a hello is between its lookup
// and its registration is the list the session starts with, not the older
// one the lookup read (friends.Pending).
func TestKVFriendsLookupRace(t *testing.T) {
	ns := jetStreamNATS(t, t.TempDir(), server.RANDOM_PORT)
	kv := friendsBucket(t, ns)
	alotest.Presence(t, ns, presence.Config{})
	nc := alotest.Conn(t, ns)
	src, err := friends.Open(context.Background(), nc, friends.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	store := &racingStore{Source: src, kv: kv, race: 1, list: "[2]",
		watching: make(chan struct{}, 1), delivered: make(chan uint64, 16)}
	_, gw, _ := alotest.GatewayOn(t, nc, gateway.Config{FriendStore: store})
	select {
	case <-store.watching:
	case <-time.After(alotest.Timeout):
		t.Fatal("the gateway's watch did not start")
	}
	kvConnect(t, gw, 2)
	if _, snap := kvConnect(t, gw, 1); !slices.Equal(snap, []int64{2}) {
		t.Fatalf("snapshot %v, want [2]: the change that overtook the lookup", snap)
	}
}

// Hellos while their users' lists change fast: every session ends with the
// last list the bucket holds, as a resend of the gateway's sessions shows.
// (TestKVFriendsLookupRace forces the one window that timing rarely hits.)
func TestKVFriendsConverge(t *testing.T) {
	ns := jetStreamNATS(t, t.TempDir(), server.RANDOM_PORT)
	kv := friendsBucket(t, ns)
	events := watchEvents(t, ns)
	alotest.Presence(t, ns, presence.Config{})
	srv, gw := kvGateway(t, ns, gateway.Config{})
	const users, puts = 8, 30
	last := make(map[int64]string)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), alotest.Timeout)
		defer cancel()
		for i := range puts * users {
			u := int64(i%users + 1)
			list := fmt.Sprintf("[%d, %d]", 100+i, 200+i)
			if i%7 == 0 {
				list = "[]"
			}
			if _, err := kv.Put(ctx, strconv.FormatInt(u, 10), []byte(list)); err != nil {
				t.Errorf("put: %v", err)
				return
			}
			last[u] = list
		}
	}()
	for round := range 3 {
		for u := int64(1); u <= users; u++ {
			c := alotest.Dial(t, gw)
			c.Send(fmt.Sprintf(`{"user_id": %d}`, u))
			c.AwaitReady()
			if round < 2 {
				c.Close()
			}
		}
	}
	<-done
	want := make(map[int64][]int64)
	for u, list := range last {
		ids, err := shared.DecodeFriendList([]byte(list), u, 10)
		if err != nil {
			t.Fatal(err)
		}
		want[u] = ids
	}
	alotest.WaitFor(t, alotest.Timeout, "every session with its user's last list", func() bool {
		if srv.Stats().Sessions != users {
			return false
		}
		got := awaitSync(t, alotest.Conn(t, ns), events, srv.ID())
		for _, ev := range got {
			if ev.Type == shared.EventOpen && !slices.Equal(ev.Friends, want[ev.User]) {
				return false
			}
		}
		return true
	})
}
