package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/friends"
	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/shared"
)

// FriendsFlags say where a gateway's friend lists come from (DESIGN §7):
// --friends client (the hello's, v1) or kv (a JetStream KV bucket the
// deployment's backend writes, package friends), with --friends-bucket and
// --friends-create. (The auth branch adds --friends token to the same flag.)
type FriendsFlags struct {
	Mode   string
	Bucket string
	Create bool
}

// The --friends values.
const (
	FriendsClient = "client"
	FriendsKV     = "kv"
)

// Register adds the flags to fs. create is --friends-create's default: true
// for the dev binary, which owns its embedded NATS; false for the gateway,
// which then needs no permission to create the bucket.
func (f *FriendsFlags) Register(fs *flag.FlagSet, create bool) {
	fs.StringVar(&f.Mode, "friends", FriendsClient, "where friend lists come from: client (the hello's) or kv (a JetStream KV bucket the deployment's backend writes, key user id, value a JSON array of ids; a client's list is refused)")
	fs.StringVar(&f.Bucket, "friends-bucket", shared.DefaultFriendsBucket, "JetStream KV `bucket` of friend lists, with --friends kv")
	fs.BoolVar(&f.Create, "friends-create", create, "with --friends kv, create the bucket if it does not exist (history 1, values up to 128 KiB)")
}

// KV reports whether --friends kv was chosen.
func (f *FriendsFlags) KV() bool { return f.Mode == FriendsKV }

// Check refuses a --friends value that is not one.
func (f *FriendsFlags) Check() error {
	switch f.Mode {
	case FriendsClient, FriendsKV:
		return nil
	}
	return fmt.Errorf("--friends: %q is not client or kv", f.Mode)
}

// openTimeout bounds binding to (or creating) the bucket at start.
const openTimeout = 10 * time.Second

// Open, with --friends kv, binds to the bucket over nc and makes it cfg's
// FriendStore; a gateway that cannot read its friend lists does not start.
// Call it after the Config is built: the bucket's MaxFriends is the
// gateway's.
func (f *FriendsFlags) Open(ctx context.Context, nc *nats.Conn, cfg *gateway.Config, log *slog.Logger) error {
	if err := f.Check(); err != nil || !f.KV() {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	src, err := friends.Open(ctx, nc, friends.Config{Bucket: f.Bucket, MaxFriends: cfg.MaxFriends, Create: f.Create},
		log.With("component", "friends"))
	if errors.Is(err, friends.ErrNoBucket) && !f.Create {
		return fmt.Errorf("--friends kv: %w; create it (nats kv add %s --history 1 --max-value-size 128KiB) or pass --friends-create", err, f.Bucket)
	}
	if err != nil {
		return fmt.Errorf("--friends kv: %w", err)
	}
	cfg.FriendStore = src
	log.Info("friend lists from the bucket", "bucket", f.Bucket)
	return nil
}
