package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/shared"
)

// alo --friends kv: the embedded NATS has JetStream and the bucket, which
// a backend on --nats-listen writes as `nats kv put alo_friends 1 '[2,3]'`
// does; a gateway process on the same NATS reads it too (binding only); a
// gateway pointed at a bucket that does not exist does not start; with
// --data the bucket outlives alo.
func TestDevFriendsKV(t *testing.T) {
	data := t.TempDir()
	alo, natsURL, token := devNATS(t, "127.0.0.1:0", "--friends", "kv", "--data", data)
	tcp := alo.Addr("clients")
	nc, err := nats.Connect(natsURL, nats.Token(token))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	kv := devBucket(t, nc)
	devPut(t, kv, "1", "[2,3]")
	devPut(t, kv, "2", "[1]")

	gw := alotest.StartEnv(t, "gateway", []string{"ALO_NATS_TOKEN=" + token},
		"--tcp", "127.0.0.1:0", "--nats", natsURL, "--auth", "none", "--friends", "kv")
	c2, _ := helloKV(t, gw.Addr("clients"), 2)
	c1 := alotest.Dial(t, tcp)
	c1.Send(alotest.Hello(1, 9))
	c1.ExpectError(shared.CodeFriendsManaged)
	wantOnline(t, c1.AwaitReady(), 2)
	c2.ExpectState(1, true)
	devPut(t, kv, "1", "[2,3,4]")
	c1.ExpectState(4, false) // a newly added friend's state
	devPut(t, kv, "3", "[1]")
	c3, snap := helloKV(t, tcp, 3)
	wantOnline(t, snap, 1)
	devPut(t, kv, "2", "[5]") // 2 drops 1
	c2.ExpectState(5, false)
	c1.Send(`{"online": false}`)
	c3.ExpectState(1, false)
	devPut(t, kv, "2", "[3]")
	c2.ExpectState(3, true) // and 1's leaving, before, was not told to 2
	c3.Close()

	missing := alotest.StartEnv(t, "gateway", []string{"ALO_NATS_TOKEN=" + token},
		"--tcp", "127.0.0.1:0", "--nats", natsURL, "--auth", "none", "--friends", "kv", "--friends-bucket", "nope")
	var exit *exec.ExitError
	if err := missing.Wait(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("gateway without its bucket exited with %v, want status 1", err)
	}
	if log := missing.Log(); !strings.Contains(log, "bucket not found") {
		t.Errorf("gateway without its bucket does not say why:\n%s", log)
	}

	alo.Signal(syscall.SIGTERM)
	if err := alo.Wait(); err != nil {
		t.Fatalf("alo exited with %v", err)
	}
	alo, _, _ = devNATS(t, "127.0.0.1:0", "--friends", "kv", "--data", data)
	c3, _ = helloKV(t, alo.Addr("clients"), 3)
	_, snap = helloKV(t, alo.Addr("clients"), 1)
	wantOnline(t, snap, 3)  // 1's list, [2,3,4], is still in the bucket
	c3.ExpectState(1, true) // and so is 3's, [1]
}

// helloKV opens a session whose list the bucket has.
func helloKV(t *testing.T, addr string, user int64) (*alotest.Client, []int64) {
	t.Helper()
	c := alotest.Dial(t, addr)
	c.User = user
	c.Send(fmt.Sprintf(`{"user_id": %d}`, user))
	return c, c.AwaitReady()
}

func devBucket(t *testing.T, nc *nats.Conn) jetstream.KeyValue {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), alotest.Timeout)
	defer cancel()
	kv, err := js.KeyValue(ctx, shared.DefaultFriendsBucket)
	if err != nil {
		t.Fatalf("alo --friends kv made no bucket: %v", err)
	}
	return kv
}

func devPut(t *testing.T, kv jetstream.KeyValue, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), alotest.Timeout)
	defer cancel()
	if _, err := kv.Put(ctx, key, []byte(value)); err != nil {
		t.Fatal(err)
	}
}
