package e2e

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// feedReader collects the change feed.
type feedReader struct {
	t   *testing.T
	sub *nats.Subscription
}

func readFeed(t *testing.T, nc *nats.Conn) *feedReader {
	t.Helper()
	sub, err := nc.SubscribeSync(shared.MustSubjects("").ChangesAll())
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	return &feedReader{t: t, sub: sub}
}

// next returns the next entry of the feed.
func (f *feedReader) next() shared.ChangeV1 {
	f.t.Helper()
	m, err := f.sub.NextMsg(alotest.Timeout)
	if err != nil {
		f.t.Fatalf("change feed: %v", err)
	}
	var c shared.ChangeV1
	if err := shared.UnmarshalChange(m.Data, &c); err != nil {
		f.t.Fatalf("change feed entry %s: %v", m.Data, err)
	}
	if m.Subject != shared.MustSubjects("").Changes(c.UserID) {
		f.t.Errorf("entry for %d on %s", c.UserID, m.Subject)
	}
	return c
}

// expect reads the next entry and checks it, returning its version.
func (f *feedReader) expect(user int64, online bool, reason string) uint64 {
	f.t.Helper()
	c := f.next()
	status := "offline"
	if online {
		status = "online"
	}
	if c.UserID != user || c.Online != online || c.Reason != reason || c.Status != status || c.At.Location() != time.UTC || c.At.IsZero() {
		f.t.Fatalf("change %+v, want user %d online %v reason %q", c, user, online, reason)
	}
	return c.Version
}

func (f *feedReader) expectNone(d time.Duration) {
	f.t.Helper()
	if m, err := f.sub.NextMsg(d); err == nil {
		f.t.Fatalf("unexpected change %s", m.Data)
	}
}

// startPresence runs presence in this process until the returned stop.
func startPresence(t *testing.T, ns *server.Server, cfg presence.Config) func() {
	t.Helper()
	return alotest.Presence(t, ns, cfg)
}

// awaitService waits until presence's query endpoint answers (not 503).
func awaitService(t *testing.T, nc *nats.Conn) {
	t.Helper()
	alotest.WaitFor(t, alotest.Timeout, "presence to serve queries", func() bool {
		m, err := nc.Request(shared.MustSubjects("").PresenceService()+".query", []byte(`{"user_ids":[]}`), time.Second)
		return err == nil && m.Header.Get(micro.ErrorCodeHeader) == ""
	})
}

// Every transition is on the feed once, in order per user, with versions
// that increase, also across a presence restart; a restart's rebuild adds
// no entries for users who stayed.
func TestChangeFeedOrderAndVersions(t *testing.T) {
	ns := alotest.NATS(t)
	nc := alotest.Conn(t, ns)
	feed := readFeed(t, nc)
	stop := startPresence(t, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{Heartbeat: 200 * time.Millisecond})

	var versions []uint64
	c, _ := alotest.Connect(t, addr, 1)
	versions = append(versions, feed.expect(1, true, ""))
	c.Close()
	versions = append(versions, feed.expect(1, false, shared.ReasonClosed))
	c, _ = alotest.Connect(t, addr, 1)
	versions = append(versions, feed.expect(1, true, ""))
	c.Send(`{"online": false}`)
	versions = append(versions, feed.expect(1, false, shared.ReasonLogout))
	stay, _ := alotest.Connect(t, addr, 2)
	v2 := feed.expect(2, true, "")
	// A second session of an online user is no transition.
	second, _ := alotest.Connect(t, addr, 2)
	second.Close()

	stop()
	// A rebuild window longer than the gateways' resync interval, as the
	// default (the lease) is.
	startPresence(t, ns, presence.Config{Lease: time.Second, Rebuild: time.Second})
	awaitService(t, nc)
	c, _ = alotest.Connect(t, addr, 1)
	versions = append(versions, feed.expect(1, true, ""))
	stay.Close()
	if v := feed.expect(2, false, shared.ReasonClosed); v <= v2 {
		t.Errorf("user 2's version went from %d to %d across the restart", v2, v)
	}
	for i := 1; i < len(versions); i++ {
		if versions[i] <= versions[i-1] {
			t.Errorf("user 1's versions do not increase: %v", versions)
		}
	}
	c.Close()
	feed.expect(1, false, shared.ReasonClosed)
	feed.expectNone(100 * time.Millisecond)
}

// Each way a session ends has its reason on the feed: logout, closed,
// timeout (a silent UDP client), kicked, and gateway_lost (a gateway
// process killed, its lease run out).
func TestChangeFeedReasons(t *testing.T) {
	ns := alotest.NATS(t)
	nc := alotest.Conn(t, ns)
	feed := readFeed(t, nc)
	startPresence(t, ns, presence.Config{Lease: time.Second})
	_, a, _ := alotest.GatewayAll(t, ns, gateway.Config{Heartbeat: 200 * time.Millisecond}, gateway.WSConfig{},
		gateway.UDPConfig{IdleTimeout: 300 * time.Millisecond})

	c, _ := alotest.Connect(t, a.TCP, 1)
	feed.expect(1, true, "")
	c.Send(`{"online": false}`)
	feed.expect(1, false, shared.ReasonLogout)

	c, _ = alotest.Connect(t, a.TCP, 2)
	feed.expect(2, true, "")
	c.Close()
	feed.expect(2, false, shared.ReasonClosed)

	u := alotest.DialUDP(t, a.UDP) // no keep-alives: it times out
	u.User = 3
	u.Send(alotest.Hello(3))
	u.AwaitReady()
	feed.expect(3, true, "")
	feed.expect(3, false, shared.ReasonTimeout)

	alotest.Connect(t, a.TCP, 4)
	feed.expect(4, true, "")
	m, err := nc.Request(shared.MustSubjects("").PresenceService()+".kick", []byte(`{"user_id": 4}`), alotest.Timeout)
	if err != nil || m.Header.Get(micro.ErrorCodeHeader) != "" {
		t.Fatalf("kick: %v %v", err, m.Header)
	}
	feed.expect(4, false, shared.ReasonKicked)

	inv, _ := alotest.Connect(t, a.TCP, 6)
	feed.expect(6, true, "")
	inv.Send(`{"status": "invisible"}`)
	feed.expect(6, false, shared.ReasonInvisible)

	gw := StartGateway(t, ns.ClientURL(), "--heartbeat", "200ms")
	alotest.Connect(t, gw.TCP, 5)
	feed.expect(5, true, "")
	gw.Signal(syscall.SIGKILL)
	feed.expect(5, false, shared.ReasonGatewayLost)
}

// With --changes-stream the feed is kept in a JetStream stream (created
// idempotently: a second presence with the same stream starts), and a
// backend resumes from a sequence.
func TestChangesStreamResume(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(alotest.Timeout) {
		t.Fatal("nats did not start")
	}
	stream := presence.ChangesStream{Name: "ALO_CHANGES", MaxAge: time.Hour, MaxBytes: 1 << 20}
	stop := startPresence(t, ns, presence.Config{ChangesStream: stream})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{})
	nc := alotest.Conn(t, ns)
	feed := readFeed(t, nc)
	for u := int64(1); u <= 3; u++ {
		alotest.Connect(t, addr, u)
		feed.expect(u, true, "")
	}
	stop()
	startPresence(t, ns, presence.Config{ChangesStream: stream, Lease: time.Second, Rebuild: time.Second})
	awaitService(t, nc)

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), alotest.Timeout)
	defer cancel()
	info, err := js.Stream(ctx, "ALO_CHANGES")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := info.CachedInfo().Config; cfg.MaxAge != time.Hour || cfg.MaxBytes != 1<<20 {
		t.Errorf("stream limits %v %v", cfg.MaxAge, cfg.MaxBytes)
	}
	cons, err := js.OrderedConsumer(ctx, "ALO_CHANGES", jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 2})
	if err != nil {
		t.Fatal(err)
	}
	for want := int64(2); want <= 3; want++ {
		m, err := cons.Next(jetstream.FetchMaxWait(alotest.Timeout))
		if err != nil {
			t.Fatal(err)
		}
		var c shared.ChangeV1
		if err := json.Unmarshal(m.Data(), &c); err != nil || c.UserID != want || !c.Online {
			t.Errorf("from sequence 2: %s, want user %d online", m.Data(), want)
		}
		if md, _ := m.Metadata(); md == nil || md.Sequence.Stream != uint64(want) {
			t.Errorf("sequence %v, want %d", md, want)
		}
	}
}
