package presence

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alo-presence/alo/shared"
)

// kvLastSeen is a LastSeenStore kept in a JetStream KV bucket (key: the user
// id in decimal, value: Unix seconds in decimal), so that last seen survives
// a presence restart (DESIGN §2, §8). It answers from memory, loaded from
// the bucket when it opens, and writes behind from one goroutine, so the
// presence goroutine never waits on JetStream; a write that finds the queue
// full is dropped and logged (the next transition of that user writes again).
type kvLastSeen struct {
	*MemoryLastSeen
	kv     jetstream.KeyValue
	writes chan [2]int64
	log    *shared.RateLog
	wg     sync.WaitGroup
}

// kvWriteQueue bounds the writes waiting for JetStream.
const kvWriteQueue = 4096

// errLastSeenBucket wraps what goes wrong opening the bucket.
var errLastSeenBucket = errors.New("presence: last seen bucket")

// openKVLastSeen opens (creating it if absent) the bucket and loads it, at
// most DefaultMaxLastSeen users.
func openKVLastSeen(ctx context.Context, nc *nats.Conn, bucket string, log *shared.RateLog) (*kvLastSeen, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errLastSeenBucket, err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       bucket,
		Description:  "ALO last seen: key user id, value Unix seconds",
		History:      1,
		MaxValueSize: 32,
	})
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", errLastSeenBucket, bucket, err)
	}
	s := &kvLastSeen{MemoryLastSeen: NewMemoryLastSeen(0), kv: kv, writes: make(chan [2]int64, kvWriteQueue), log: log}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", errLastSeenBucket, bucket, err)
	}
	defer w.Stop()
	for e := range w.Updates() {
		if e == nil {
			break // the initial values are all in
		}
		user, err1 := strconv.ParseInt(e.Key(), 10, 64)
		at, err2 := strconv.ParseInt(string(e.Value()), 10, 64)
		if err1 != nil || err2 != nil || user <= 0 || at <= 0 {
			continue // not ours; the bucket may be written by anyone
		}
		s.MemoryLastSeen.SetLastSeen(user, time.Unix(at, 0))
	}
	s.wg.Go(s.writer)
	return s, nil
}

// SetLastSeen implements LastSeenStore.
func (s *kvLastSeen) SetLastSeen(user int64, t time.Time) {
	s.MemoryLastSeen.SetLastSeen(user, t)
	select {
	case s.writes <- [2]int64{user, t.Unix()}:
	default:
		s.log.Warn("last_seen_queue_full", "last seen write dropped: the bucket does not keep up", "user", user)
	}
}

func (s *kvLastSeen) writer() {
	for w := range s.writes {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.kv.Put(ctx, strconv.FormatInt(w[0], 10), strconv.AppendInt(nil, w[1], 10))
		cancel()
		if err != nil {
			s.log.Warn("last_seen_write_failed", "writing last seen to the bucket failed", "user", w[0], "err", err)
		}
	}
}

// close ends the writer after the queued writes.
func (s *kvLastSeen) close() {
	close(s.writes)
	s.wg.Wait()
}
