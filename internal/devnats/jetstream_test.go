package devnats

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alo-presence/alo/friends"
)

// TestEnableJetStream runs the embedded server the way alo does (no
// listener, an in-process connection) and uses the friends bucket in it,
// once in a temporary store and twice in a data dir, where the list
// survives the restart.
func TestEnableJetStream(t *testing.T) {
	data := t.TempDir()
	for i, dataDir := range []string{"", data, data} {
		opts := &server.Options{ServerName: "alo-dev", NoSigs: true, NoLog: true, DontListen: true}
		cleanup, err := EnableJetStream(opts, dataDir)
		if err != nil {
			t.Fatal(err)
		}
		store := opts.StoreDir
		ns, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("not ready")
		}
		nc, err := nats.Connect("", nats.InProcessServer(ns))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		src, err := friends.Open(ctx, nc, friends.Config{Create: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		js, _ := jetstream.New(nc)
		kv, _ := js.KeyValue(ctx, src.Bucket())
		if i < 2 {
			if _, err := kv.PutString(ctx, "1", `[2,3]`); err != nil {
				t.Fatal(err)
			}
		}
		e, err := src.Lookup(ctx, 1)
		if err != nil || !slices.Equal(e.Friends, []int64{2, 3}) {
			t.Errorf("run %d: lookup %+v, %v", i, e, err)
		}
		cancel()
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
		cleanup()
		_, err = os.Stat(store)
		if gone := os.IsNotExist(err); gone != (dataDir == "") {
			t.Errorf("run %d: store %s removed %v after cleanup", i, store, gone)
		}
	}
}
