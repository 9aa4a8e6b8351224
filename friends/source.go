package friends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alo-presence/alo/shared"
)

// Errors of Open, Lookup and Watch.
var (
	// ErrNoBucket: the bucket does not exist and Config.Create is false.
	ErrNoBucket = errors.New("friends: bucket not found")
	// ErrUnavailable: the bucket could not be read (NATS or JetStream down,
	// a timeout, no permission). The wrapped error says which.
	ErrUnavailable = errors.New("friends: bucket unavailable")
	// ErrBadUser: Lookup was asked for an id that is not a user id.
	ErrBadUser = errors.New("friends: not a user id")
)

// Entry is the trusted friend list of one user at one revision of the
// bucket.
type Entry struct {
	User int64
	// Friends is sorted, without duplicates or User; nil when the user has
	// no friends: no key, a deleted or purged key, or a refused value.
	// Watch hands the same slice to everyone: do not change it in place.
	Friends []int64
	// Revision is the bucket revision the list was read at; 0 when the key
	// does not exist. Revisions of one bucket only grow, so of two entries
	// for a user the one with the larger revision is the newer (see
	// WIRING.md for why the gateway must compare them).
	Revision uint64
	// Refused says the stored value was not a valid list; it was logged
	// and Friends is nil.
	Refused bool
}

// Source reads friend lists from the bucket. It is safe for concurrent use.
type Source struct {
	cfg Config
	nc  *nats.Conn
	kv  jetstream.KeyValue
	log *slog.Logger
	rl  *shared.RateLog
}

// Open binds to the bucket of cfg, creating it first when cfg.Create is
// set. It fails when JetStream cannot be reached or the bucket does not
// exist (ErrNoBucket): a gateway configured for trusted lists must not
// start without them.
func Open(ctx context.Context, nc *nats.Conn, cfg Config, log *slog.Logger) (*Source, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	kv, err := bind(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	log = log.With("bucket", cfg.Bucket)
	return &Source{cfg: cfg, nc: nc, kv: kv, log: log, rl: shared.NewRateLog(log, 0)}, nil
}

func bind(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	switch {
	case err == nil:
		return kv, nil
	case !errors.Is(err, jetstream.ErrBucketNotFound):
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case !cfg.Create:
		return nil, fmt.Errorf("%w: %s (the backend creates it, or set Create)", ErrNoBucket, cfg.Bucket)
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       cfg.Bucket,
		Description:  "ALO trusted friend lists: key user id, value JSON array of user ids",
		History:      1,
		MaxValueSize: cfg.MaxValueSize,
		Replicas:     cfg.Replicas,
		Storage:      jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		// Created meanwhile by someone else, maybe with other limits: the
		// one who created it owns them.
		kv, err = js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: create %s: %w", ErrUnavailable, cfg.Bucket, err)
	}
	return kv, nil
}

// Bucket returns the name of the bucket the Source reads.
func (s *Source) Bucket() string { return s.cfg.Bucket }

// Lookup returns the friend list of user now. A missing key is no friends
// (Revision 0); a bad value is no friends too, with Refused set and a
// rate-limited warning. An error (ErrUnavailable) means the bucket could
// not be read, and nothing is known about the list.
func (s *Source) Lookup(ctx context.Context, user int64) (Entry, error) {
	if user <= 0 {
		return Entry{}, fmt.Errorf("%w: %d", ErrBadUser, user)
	}
	e, err := s.kv.Get(ctx, strconv.FormatInt(user, 10))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		// Also a deleted or purged key.
		return Entry{User: user}, nil
	case err != nil:
		return Entry{}, fmt.Errorf("%w: get %d: %w", ErrUnavailable, user, err)
	}
	return s.decode(user, e.Value(), e.Revision()), nil
}

func (s *Source) decode(user int64, value []byte, rev uint64) Entry {
	ids, err := shared.DecodeFriendList(value, user, s.cfg.MaxFriends)
	if err != nil {
		s.rl.Warn("bad_value", "friends value refused, the user has no friends until it is fixed",
			"user", user, "revision", rev, "size", len(value), "err", err)
		return Entry{User: user, Revision: rev, Refused: true}
	}
	if len(ids) == 0 {
		ids = nil
	}
	return Entry{User: user, Friends: ids, Revision: rev}
}

// parseKey returns the user id a key names: canonical decimal only, so that
// "7" and "007" cannot be two lists of one user.
func parseKey(key string) (int64, bool) {
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != key {
		return 0, false
	}
	return id, true
}
