package presence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alo-presence/alo/shared"
)

// The change feed (docs/OPERATIONS.md): every transition of a user, once,
// on Subjects.Changes(user), for backends. Gateways never subscribe there,
// so no client hears it, and invisibility stays hidden from watchers.
//
// The index calls publish from the Run loop for each transition it makes,
// in the order it makes them, so a user's entries are published in order.
// Transitions during a rebuild are not entries: the index is quiet then,
// its view partial, and what it sees are users who were online all along.
//
// Versions come from a hybrid clock: each entry's is the larger of the
// previous entry's + 1 and the wall clock in nanoseconds since 1970. They
// increase for every user (for all of them at once, in fact) within a run,
// and across restarts unless the clock steps back by more than the restart
// took; they need no state per user, and no store.
type feed struct {
	nc       *nats.Conn
	subjects shared.Subjects
	log      *shared.RateLog
	m        *metrics
	last     uint64
	change   shared.ChangeV1
}

func (f *feed) publish(user int64, online bool, status, why string) {
	now := time.Now()
	f.last = max(f.last+1, uint64(now.UnixNano()))
	c := &f.change
	*c = shared.ChangeV1{UserID: user, Online: online, Status: status, Version: f.last, At: now.UTC()}
	if online {
		if c.Status == "" {
			c.Status = shared.StatusOnline.String()
		}
	} else {
		c.Reason = why
	}
	data, err := shared.MarshalChange(c)
	if err != nil {
		return
	}
	if err := f.nc.Publish(f.subjects.Changes(user), data); err != nil {
		f.log.Warn("changes_publish_failed", "publishing a change failed", "err", err)
		return
	}
	f.m.changes.Inc()
}

// closeReason is the feed's reason for a close event's: one of the known
// ones, or "closed" for anything else a gateway (or a forger) says.
func closeReason(r string) string {
	switch r {
	case shared.ReasonLogout, shared.ReasonTimeout, shared.ReasonKicked, shared.ReasonInvisible, shared.ReasonGatewayLost:
		return r
	}
	return shared.ReasonClosed
}

// ChangesStream configures the JetStream stream that keeps the change feed.
type ChangesStream struct {
	// Name is the stream's name; empty means no stream.
	Name string
	// MaxAge is how long entries are kept. Default 24h.
	MaxAge time.Duration
	// MaxBytes bounds the stream's size; the oldest entries go first.
	// Default 1 GiB.
	MaxBytes int64
	// Replicas is the stream's replica count. Default 1.
	Replicas int
}

// Defaults of ChangesStream.
const (
	DefaultChangesMaxAge   = 24 * time.Hour
	DefaultChangesMaxBytes = 1 << 30
)

var errChangesStream = errors.New("presence: changes stream")

// ensureStream creates the changes stream, or updates its limits: starting
// presence twice, or with new limits, is not an error.
func (s *Service) ensureStream(ctx context.Context) error {
	c := s.cfg.ChangesStream
	if c.Name == "" {
		return nil
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultChangesMaxAge
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultChangesMaxBytes
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("%w: %w", errChangesStream, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        c.Name,
		Description: "ALO presence change feed",
		Subjects:    []string{s.subjects.ChangesAll()},
		MaxAge:      c.MaxAge,
		MaxBytes:    c.MaxBytes,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
	})
	if err != nil {
		return fmt.Errorf("%w %s: %w", errChangesStream, c.Name, err)
	}
	s.log.Info("change feed kept in a stream", "stream", c.Name, "max_age", c.MaxAge.String(), "max_bytes", c.MaxBytes)
	return nil
}
