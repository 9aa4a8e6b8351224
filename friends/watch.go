package friends

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Handler receives what Watch sees. Its functions are called from the
// goroutine of Watch, one at a time, in the order of the bucket.
type Handler struct {
	// Change is called for every change of a key after the watch started:
	// a put (its list, or Refused and no friends), a delete or a purge (no
	// friends). Required. A slow Change holds back the next ones (the
	// watch's consumer buffers them, and resumes by sequence if it has to
	// drop some), so it should hand work off rather than wait on sessions.
	Change func(Entry)
	// Resync is called each time a watch is established, the first one
	// included, before any Change from it: changes made before it may not
	// have been delivered, so the gateway should Lookup again the users it
	// holds and apply each result by revision (WIRING.md). Optional. Do the
	// lookups before returning, or at least apply them by revision: a
	// lookup applied after a later Change would undo it.
	Resync func(ctx context.Context)
}

// Watch delivers the changes of the bucket to h until ctx is done, then
// returns nil after its watch is stopped. When NATS reconnects, or a watch
// ends or cannot be created (JetStream not ready yet, NATS closed, the
// bucket deleted), it makes a new one, resuming after the last revision it
// delivered, retrying with a delay that doubles from 100 ms up to
// Config.RetryDelay, and calls h.Resync once the new watch is up. Failures
// are logged at most once a second. One Watch per gateway is enough (see
// the package doc for its cost).
func (s *Source) Watch(ctx context.Context, h Handler) error {
	if h.Change == nil {
		return fmt.Errorf("%w: Handler.Change is nil", ErrConfig)
	}
	const firstDelay = 100 * time.Millisecond
	var last uint64
	delay := min(firstDelay, s.cfg.RetryDelay)
	for {
		start := time.Now()
		ended, err := s.watchOnce(ctx, h, &last)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
			s.rl.Warn("watch_failed", "friends watch could not be created, retrying", "err", err, "delay", delay)
		case ended && time.Since(start) > s.cfg.RetryDelay:
			// At once after a watch that worked for a while; one that
			// ends as soon as it is made waits, so that it cannot spin
			// (nor call Resync in a loop).
			delay = min(firstDelay, s.cfg.RetryDelay)
			continue
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, s.cfg.RetryDelay)
	}
}

// watchOnce runs one watch until it ends (ended true) or ctx is done. Its
// own context stops the subscription, so a watch that ended leaves no
// goroutine behind.
func (s *Source) watchOnce(ctx context.Context, h Handler, last *uint64) (ended bool, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opt := jetstream.UpdatesOnly()
	if *last > 0 {
		st, err := s.kv.Status(wctx)
		if err != nil {
			return false, err
		}
		if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo().State.LastSeq < *last {
			// The bucket was deleted and created anew: its revisions
			// started again, and resuming after ours would wait forever.
			s.rl.Warn("revisions_reset", "friends bucket revisions started again, watching from now", "revision", *last,
				"bucket_revision", bs.StreamInfo().State.LastSeq)
			*last = 0
		} else {
			opt = jetstream.ResumeFromRevision(*last + 1)
		}
	}
	// The consumer behind a watch recovers from a reconnect by itself, but
	// only once it has missed its heartbeats: measured 20 s after a server
	// restart. A new watch, resumed from the last revision, is there as soon
	// as JetStream answers again.
	reconnected := s.nc.StatusChanged(nats.CONNECTED)
	defer s.nc.RemoveStatusListener(reconnected)
	w, err := s.kv.WatchAll(wctx, opt)
	if err != nil {
		return false, err
	}
	defer w.Stop()
	if h.Resync != nil {
		h.Resync(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case <-reconnected:
			s.log.Info("nats reconnected, watching friends again", "revision", *last)
			return true, nil
		case e, ok := <-w.Updates():
			if !ok {
				s.rl.Warn("watch_ended", "friends watch ended, creating it again", "revision", *last)
				return true, nil
			}
			if e == nil {
				continue // end of the initial values of a resumed watch
			}
			*last = e.Revision()
			s.deliver(e, h.Change)
		}
	}
}

func (s *Source) deliver(e jetstream.KeyValueEntry, change func(Entry)) {
	user, ok := parseKey(e.Key())
	if !ok {
		key := e.Key()
		if len(key) > 64 {
			key = key[:64] + "..."
		}
		s.rl.Warn("bad_key", "friends key is not a user id, ignored", "key", key, "revision", e.Revision())
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		change(Entry{User: user, Revision: e.Revision()})
		return
	}
	change(s.decode(user, e.Value(), e.Revision()))
}
