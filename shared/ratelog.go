package shared

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RateLog logs repeated lines of one kind at most once an interval, so that
// garbage on the bus or a flood of bad clients costs a log line a second,
// not one each. The first line of a kind in an interval is written at once;
// the ones after it are counted, and the next line of that kind written
// carries the count as "suppressed". It is safe for concurrent use, and its
// memory is bounded by the number of kinds, which callers spell as
// constants.
type RateLog struct {
	log   *slog.Logger
	every time.Duration

	mu    sync.Mutex
	kinds map[string]*rateKind
}

type rateKind struct {
	last       time.Time
	suppressed int
}

// DefaultLogInterval is how often a RateLog writes a line of one kind.
const DefaultLogInterval = time.Second

// NewRateLog returns a RateLog writing to log at most once every interval
// per kind (DefaultLogInterval when every is zero or negative).
func NewRateLog(log *slog.Logger, every time.Duration) *RateLog {
	if every <= 0 {
		every = DefaultLogInterval
	}
	return &RateLog{log: log, every: every, kinds: make(map[string]*rateKind)}
}

// Warn logs msg at warning level, unless a line of this kind was written
// less than an interval ago.
func (r *RateLog) Warn(kind, msg string, args ...any) { r.logAt(slog.LevelWarn, kind, msg, args) }

// Error logs msg at error level, unless a line of this kind was written less
// than an interval ago.
func (r *RateLog) Error(kind, msg string, args ...any) { r.logAt(slog.LevelError, kind, msg, args) }

// Info logs msg at info level, unless a line of this kind was written less
// than an interval ago.
func (r *RateLog) Info(kind, msg string, args ...any) { r.logAt(slog.LevelInfo, kind, msg, args) }

// Debug logs msg at debug level, unless a line of this kind was written less
// than an interval ago. Nothing is counted while debug logs are off.
func (r *RateLog) Debug(kind, msg string, args ...any) { r.logAt(slog.LevelDebug, kind, msg, args) }

func (r *RateLog) logAt(level slog.Level, kind, msg string, args []any) {
	if !r.log.Enabled(context.Background(), level) {
		return
	}
	now := time.Now()
	r.mu.Lock()
	k := r.kinds[kind]
	if k == nil {
		k = &rateKind{}
		r.kinds[kind] = k
	}
	if !k.last.IsZero() && now.Sub(k.last) < r.every {
		k.suppressed++
		r.mu.Unlock()
		return
	}
	n := k.suppressed
	k.last, k.suppressed = now, 0
	r.mu.Unlock()
	if n > 0 {
		args = append(args[:len(args):len(args)], "suppressed", n)
	}
	r.log.Log(context.Background(), level, msg, args...)
}
