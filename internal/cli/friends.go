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

// FriendsFlags are the bucket of --friends kv (EdgeFlags has --friends):
// --friends-bucket and --friends-create. Open binds to it.
type FriendsFlags struct {
	Bucket string
	Create bool
}

// Register adds the flags to fs. create is --friends-create's default: true
// for the dev binary, which owns its embedded NATS; false for the gateway,
// which then needs no permission to create the bucket.
func (f *FriendsFlags) Register(fs *flag.FlagSet, create bool) {
	fs.StringVar(&f.Bucket, "friends-bucket", shared.DefaultFriendsBucket, "JetStream KV `bucket` of friend lists, with --friends kv: key a user id, value a JSON array of ids")
	fs.BoolVar(&f.Create, "friends-create", create, "with --friends kv, create the bucket if it does not exist (history 1, values up to 128 KiB)")
}

// openTimeout bounds binding to (or creating) the bucket at start.
const openTimeout = 10 * time.Second

// Open, when cfg.Friends is kv (EdgeFlags.Setup sets it), binds to the
// bucket over nc and makes it cfg's FriendStore; a gateway that cannot read
// its friend lists does not start. The bucket's MaxFriends is the
// gateway's.
func (f *FriendsFlags) Open(ctx context.Context, nc *nats.Conn, cfg *gateway.Config, log *slog.Logger) error {
	if cfg.Friends != gateway.FriendsKV {
		return nil
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
