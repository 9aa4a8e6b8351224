package cli_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/alo-presence/alo/friends"
	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/internal/cli"
)

// --friends takes client or kv; kv on a NATS without JetStream, or without
// the bucket and --friends-create, does not start; client touches nothing.
func TestFriendsFlags(t *testing.T) {
	parse := func(args ...string) *cli.FriendsFlags {
		t.Helper()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var f cli.FriendsFlags
		f.Register(fs, false)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return &f
	}
	if err := parse("--friends", "everyone").Check(); err == nil || !strings.Contains(err.Error(), "--friends") {
		t.Errorf("--friends everyone: %v, want a refusal naming the flag", err)
	}
	var cfg gateway.Config
	if err := parse().Open(context.Background(), nil, &cfg, cli.Discard()); err != nil || cfg.FriendStore != nil {
		t.Errorf("--friends client: %v, store %v; want nothing opened", err, cfg.FriendStore)
	}
	nc := alotest.Conn(t, alotest.NATS(t)) // no JetStream
	err := parse("--friends", "kv").Open(context.Background(), nc, &cfg, cli.Discard())
	if !errors.Is(err, friends.ErrUnavailable) || cfg.FriendStore != nil {
		t.Errorf("--friends kv without JetStream: %v, want %v and no store", err, friends.ErrUnavailable)
	}
}
