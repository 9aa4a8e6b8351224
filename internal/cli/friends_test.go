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

// --friends takes client, token or kv; kv on a NATS without JetStream does
// not start; client opens nothing.
func TestFriendsFlags(t *testing.T) {
	parse := func(args ...string) (*gateway.Config, *cli.FriendsFlags, error) {
		t.Helper()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var e cli.EdgeFlags
		e.Register(fs, true)
		var f cli.FriendsFlags
		f.Register(fs, false)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		var cfg gateway.Config
		_, err := e.Setup(cli.Discard(), &cfg)
		return &cfg, &f, err
	}
	if _, _, err := parse("--friends", "everyone"); err == nil || !strings.Contains(err.Error(), "--friends") {
		t.Errorf("--friends everyone: %v, want a refusal naming the flag", err)
	}
	cfg, f, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Open(context.Background(), nil, cfg, cli.Discard()); err != nil || cfg.FriendStore != nil {
		t.Errorf("--friends client: %v, store %v; want nothing opened", err, cfg.FriendStore)
	}
	cfg, f, err = parse("--friends", "kv")
	if err != nil || cfg.Friends != gateway.FriendsKV {
		t.Fatalf("--friends kv: %v, mode %q", err, cfg.Friends)
	}
	nc := alotest.Conn(t, alotest.NATS(t)) // no JetStream
	err = f.Open(context.Background(), nc, cfg, cli.Discard())
	if !errors.Is(err, friends.ErrUnavailable) || cfg.FriendStore != nil {
		t.Errorf("--friends kv without JetStream: %v, want %v and no store", err, friends.ErrUnavailable)
	}
}
