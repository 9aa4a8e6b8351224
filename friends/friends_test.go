package friends

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestLookup(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	log, logs := newLog()
	src, err := Open(ctxT(t), connect(t, ns), Config{Create: true, MaxFriends: 3}, log)
	if err != nil {
		t.Fatal(err)
	}
	kv := backend(t, connect(t, ns), "alo_friends")
	ctx := ctxT(t)
	put := func(key, value string) uint64 {
		t.Helper()
		rev, err := kv.PutString(ctx, key, value)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}

	rev := put("1", `[3, 2, 1]`)
	got, err := src.Lookup(ctx, 1)
	if err != nil || !slices.Equal(got.Friends, []int64{2, 3}) || got.Revision != rev || got.Refused || got.User != 1 {
		t.Fatalf("present key: %+v, %v", got, err)
	}
	got, err = src.Lookup(ctx, 2)
	if err != nil || !none(got, 2) {
		t.Fatalf("missing key: %+v, %v; want no friends, revision 0", got, err)
	}
	put("3", `[]`)
	if got, err = src.Lookup(ctx, 3); err != nil || got.Friends != nil || got.Refused {
		t.Fatalf("empty list: %+v, %v", got, err)
	}
	if err := kv.Delete(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if got, err = src.Lookup(ctx, 1); err != nil || !none(got, 1) {
		t.Fatalf("deleted key: %+v, %v; want no friends", got, err)
	}
	put("4", `[5,6,7]`) // exactly the cap
	if got, err = src.Lookup(ctx, 4); err != nil || len(got.Friends) != 3 {
		t.Fatalf("list at the cap: %+v, %v", got, err)
	}

	for i, bad := range []string{
		``, `null`, `"[2]"`, `{"friends":[2]}`, `[2,"3"]`, `[2,-3]`, `[0]`, `[2.0]`, `[true]`,
		`[2,3`, `[2][3]`, `[9223372036854775808]`, "\xff",
		`[5,6,7,8]`, // over the cap (3): refused whole, not cut to three
		`[` + strings.Repeat("9,", 5000) + `9]`,
	} {
		user := int64(100 + i)
		rev := put(strconv.FormatInt(user, 10), bad)
		got, err := src.Lookup(ctx, user)
		if err != nil || got.Friends != nil || !got.Refused || got.Revision != rev {
			t.Errorf("bad value %.40q: %+v, %v; want refused, no friends", bad, got, err)
		}
	}
	if n := logs.Count("friends value refused"); n < 1 || n > 3 {
		t.Errorf("%d log lines for 15 bad values in well under a second; want 1 (or 2-3 on a slow machine)", n)
	}

	if _, err := src.Lookup(ctx, 0); !errors.Is(err, ErrBadUser) {
		t.Errorf("Lookup(0): %v, want ErrBadUser", err)
	}
}

// none reports whether e is no friends for user with no key behind it.
func none(e Entry, user int64) bool {
	return e.User == user && e.Friends == nil && e.Revision == 0 && !e.Refused
}

func TestOpen(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	nc := connect(t, ns)
	log, _ := newLog()
	ctx := ctxT(t)

	if _, err := Open(ctx, nc, Config{}, log); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("Open without a bucket nor Create: %v, want ErrNoBucket", err)
	}
	if _, err := Open(ctx, nc, Config{MaxFriends: -1}, log); !errors.Is(err, ErrConfig) {
		t.Fatalf("Open with MaxFriends -1: %v, want ErrConfig", err)
	}
	for range 2 { // idempotent
		if _, err := Open(ctx, nc, Config{Create: true}, log); err != nil {
			t.Fatal(err)
		}
	}
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, "alo_friends")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if st.History() != 1 || info.Config.MaxMsgSize != DefaultMaxValueSize || info.Config.Replicas != 1 ||
		info.Config.Storage != jetstream.FileStorage {
		t.Errorf("created bucket: history %d, max value %d, replicas %d, storage %v",
			st.History(), info.Config.MaxMsgSize, info.Config.Replicas, info.Config.Storage)
	}
	// A value over the bucket's limit is refused by JetStream itself.
	if _, err := kv.Put(ctx, "1", make([]byte, DefaultMaxValueSize+1)); err == nil {
		t.Error("a value over MaxValueSize was stored")
	}

	// A bucket the backend made with its own limits is used as it is.
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "theirs", History: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, nc, Config{Bucket: "theirs", Create: true}, log); err != nil {
		t.Fatal(err)
	}
	kv, _ = js.KeyValue(ctx, "theirs")
	if st, _ := kv.Status(ctx); st.History() != 5 {
		t.Errorf("Open changed an existing bucket: history %d, want 5", st.History())
	}
}

// wantChanges waits for n changes and checks them against want (nil
// Friends: no friends), in order, with growing revisions.
func wantChanges(t *testing.T, r *recorder, want []Entry) []Entry {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d changes", len(want)), func() bool {
		got, _ := r.snapshot()
		return len(got) >= len(want)
	})
	got, _ := r.snapshot()
	var prev uint64
	for i, g := range got {
		if i >= len(want) || g.User != want[i].User || !slices.Equal(g.Friends, want[i].Friends) ||
			g.Refused != want[i].Refused || g.Revision <= prev {
			t.Fatalf("changes %+v\nwant (revisions growing) %+v", got, want)
		}
		prev = g.Revision
	}
	return got
}

func TestWatchOrder(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	log, logs := newLog()
	src, err := Open(ctxT(t), connect(t, ns), Config{Create: true, MaxFriends: 3}, log)
	if err != nil {
		t.Fatal(err)
	}
	kv := backend(t, connect(t, ns), "alo_friends")
	ctx := ctxT(t)
	if _, err := kv.PutString(ctx, "9", `[1]`); err != nil { // before the watch: not delivered
		t.Fatal(err)
	}
	r := startWatch(t, src)

	steps := []func() error{
		func() error { _, err := kv.PutString(ctx, "5", `[1]`); return err },
		func() error { _, err := kv.PutString(ctx, "5", `[2,1]`); return err },
		func() error { _, err := kv.PutString(ctx, "not-a-user", `[1]`); return err }, // ignored
		func() error { _, err := kv.PutString(ctx, "05", `[1]`); return err },         // ignored
		func() error { _, err := kv.PutString(ctx, "6", `[1,2,3,4]`); return err },    // over the cap
		func() error { return kv.Delete(ctx, "5") },
		func() error { _, err := kv.PutString(ctx, "6", `[4]`); return err },
		func() error { return kv.Purge(ctx, "6") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	wantChanges(t, r, []Entry{
		{User: 5, Friends: []int64{1}},
		{User: 5, Friends: []int64{1, 2}},
		{User: 6, Refused: true},
		{User: 5},
		{User: 6, Friends: []int64{4}},
		{User: 6},
	})
	if n := logs.Count("friends key is not a user id"); n < 1 {
		t.Error("no log line for a key that is not a user id")
	}
	if _, resyncs := r.snapshot(); resyncs != 1 {
		t.Errorf("%d resyncs without any fault, want the first one only", resyncs)
	}
}

// TestWatchSurvivesRestart stops the NATS server for real and starts a new
// one on the same port and store: changes made after it are delivered, in
// order, also those made before the watch has recovered.
func TestWatchSurvivesRestart(t *testing.T) {
	var r0 *recorder
	dir := t.TempDir()
	ns := startNATS(t, dir, -1)
	port := portOf(ns)
	log, logs := newLog()
	t.Cleanup(func() {
		if t.Failed() {
			got, resyncs := r0.snapshot()
			t.Logf("log:\n%s\nchanges %+v, resyncs %d", logs.String(), got, resyncs)
		}
	})
	src, err := Open(ctxT(t), connect(t, ns), Config{Create: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	writer := connect(t, ns)
	kv := backend(t, writer, "alo_friends")
	r := startWatch(t, src)
	r0 = r
	ctx := ctxT(t)
	if _, err := kv.PutString(ctx, "1", `[2]`); err != nil {
		t.Fatal(err)
	}
	wantChanges(t, r, []Entry{{User: 1, Friends: []int64{2}}})

	ns.Shutdown()
	ns.WaitForShutdown()
	lctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if _, err := src.Lookup(lctx, 1); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Lookup with NATS down: %v, want ErrUnavailable", err)
	}
	cancel()
	startNATS(t, dir, port)

	// The backend writes as soon as JetStream takes writes again.
	waitFor(t, 30*time.Second, "a put after the restart", func() bool {
		pctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := kv.PutString(pctx, "1", `[3]`)
		return err == nil
	})
	var lastRev uint64
	for _, v := range []string{`[3,4]`, `[5]`, `[]`} {
		if lastRev, err = kv.PutString(ctx, "2", v); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	// The bucket keeps one value per key, so a watch that is behind (here,
	// recovering) skips the values of a key that were replaced before it
	// got to them; the last one always arrives, after the earlier ones.
	waitFor(t, 60*time.Second, "the last change after the restart", func() bool {
		got, _ := r.snapshot()
		return len(got) > 0 && got[len(got)-1].Revision == lastRev
	})
	got, _ := r.snapshot()
	if len(got) < 3 || !slices.Equal(got[1].Friends, []int64{3}) || got[len(got)-1].Friends != nil {
		t.Fatalf("changes %+v: want user 1's [3] after [2], then user 2's, ending with no friends", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Revision <= got[i-1].Revision {
			t.Fatalf("changes out of order: %+v", got)
		}
	}
	// Recovering by the consumer's own heartbeats takes 10 s or more
	// (measured 20 s); a new watch after the reconnect, a fraction of a
	// second. Which one happened shows in the resyncs, not in the clock: only
	// a new watch resyncs.
	if _, resyncs := r.snapshot(); resyncs < 2 {
		t.Errorf("%d resyncs: want one after the reconnect too", resyncs)
	}
	t.Logf("changes after the restart delivered %v after the last put (%d changes)", time.Since(start).Round(time.Millisecond), len(got))
}

// TestBadValueFlood writes many bad values: each reaches the watcher as no
// friends, and the log gets about one line a second, not one each.
func TestBadValueFlood(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	log, logs := newLog()
	src, err := Open(ctxT(t), connect(t, ns), Config{Create: true, MaxFriends: 10}, log)
	if err != nil {
		t.Fatal(err)
	}
	kv := backend(t, connect(t, ns), "alo_friends")
	r := startWatch(t, src)
	ctx := ctxT(t)
	const n = 500
	start := time.Now()
	for i := range n {
		if _, err := kv.PutString(ctx, strconv.Itoa(1+i%50), `["x"]`); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, err := src.Lookup(ctx, int64(1+i%50)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "all bad values delivered", func() bool { got, _ := r.snapshot(); return len(got) >= n })
	elapsed := time.Since(start)
	got, _ := r.snapshot()
	for _, e := range got {
		if !e.Refused || e.Friends != nil {
			t.Fatalf("bad value delivered as %+v", e)
		}
	}
	lines := logs.Count("friends value refused")
	// One line per interval of a second, plus the first.
	if max := int(elapsed/time.Second) + 2; lines < 1 || lines > max {
		t.Errorf("%d log lines for %d bad values in %v; want 1 to %d", lines, 2*n, elapsed, max)
	}
	t.Logf("%d bad values (watch and lookup) in %v: %d log lines", 2*n, elapsed.Round(time.Millisecond), lines)
}

func TestParseKey(t *testing.T) {
	for key, want := range map[string]int64{
		"1": 1, "42": 42, "9223372036854775807": 9223372036854775807,
		"0": 0, "-1": 0, "007": 0, "+7": 0, "7a": 0, "": 0, "9223372036854775808": 0, " 7": 0,
	} {
		got, ok := parseKey(key)
		if got != want || ok != (want > 0) {
			t.Errorf("parseKey(%q) = %d, %v; want %d", key, got, ok, want)
		}
	}
}

func TestWatchNeedsChange(t *testing.T) {
	if err := (&Source{}).Watch(context.Background(), Handler{}); !errors.Is(err, ErrConfig) {
		t.Errorf("Watch without Change: %v", err)
	}
}

// TestWatchBucketRecreated deletes the bucket under a running watch and
// makes it again, as a backend might: the watch ends, is made again once the
// bucket is back (its revisions started again, so resuming after the old
// ones would wait forever), calls Resync, and delivers the new changes.
func TestWatchBucketRecreated(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	log, logs := newLog()
	src, err := Open(ctxT(t), connect(t, ns), Config{Create: true, RetryDelay: 100 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	bnc := connect(t, ns)
	kv := backend(t, bnc, "alo_friends")
	r := startWatch(t, src)
	ctx := ctxT(t)
	for i := range 5 { // revisions 1-5 in the old bucket
		if _, err := kv.PutString(ctx, "1", fmt.Sprintf("[%d]", i+2)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "the old bucket's changes", func() bool { got, _ := r.snapshot(); return len(got) == 5 })

	js, _ := jetstream.New(bnc)
	if err := js.DeleteKeyValue(ctx, "alo_friends"); err != nil {
		t.Fatal(err)
	}
	// The watch ends when its consumer, gone with the stream, cannot be
	// made again; only then is the bucket back.
	waitFor(t, 60*time.Second, "the watch to end", func() bool { return logs.Count("friends watch ended") > 0 })
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "alo_friends", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "a resync on the new bucket", func() bool { _, n := r.snapshot(); return n >= 2 })
	if _, err := kv.PutString(ctx, "2", `[7]`); err != nil { // revision 1 of the new bucket
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the new bucket's change", func() bool { got, _ := r.snapshot(); return len(got) == 6 })
	if got, _ := r.snapshot(); got[5].User != 2 || got[5].Revision != 1 || !slices.Equal(got[5].Friends, []int64{7}) {
		t.Errorf("change from the new bucket: %+v", got[5])
	}
	if logs.Count("revisions started again") != 1 {
		t.Errorf("no log line about the new bucket's revisions:\n%s", logs.String())
	}
}

// TestWatchReturns checks that Watch returns when its context ends and
// leaves no goroutine behind, also after a watch was made again.
func TestWatchReturns(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	nc := connect(t, ns)
	log, _ := newLog()
	src, err := Open(ctxT(t), nc, Config{Create: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, r.handler()) }()
	waitFor(t, 10*time.Second, "the first watch", func() bool { _, n := r.snapshot(); return n >= 1 })
	if err := nc.ForceReconnect(); err != nil { // a new watch
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the watch after the reconnect", func() bool { _, n := r.snapshot(); return n >= 2 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return")
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("goroutines back to %d", before), func() bool {
		return runtime.NumGoroutine() <= before
	})
}
