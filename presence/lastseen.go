package presence

import "time"

// LastSeenStore keeps each user's last seen: the time of their last online →
// offline transition as watchers saw it (going invisible is one). Presence
// calls it from its one goroutine, on every transition, so an implementation
// must not block: one backed by a remote store (a JetStream KV bucket, say)
// answers from memory and writes behind.
type LastSeenStore interface {
	// LastSeen returns the user's last seen, and false when unknown.
	LastSeen(user int64) (time.Time, bool)
	// SetLastSeen records it.
	SetLastSeen(user int64, t time.Time)
}

// DefaultMaxLastSeen is how many users a MemoryLastSeen remembers by
// default.
const DefaultMaxLastSeen = 1 << 20

// MemoryLastSeen is a LastSeenStore in memory: it is lost when presence
// restarts, and holds at most a bound of users, so that ids forged on an
// open bus cost bounded memory; beyond it, an arbitrary entry is forgotten
// for each new one. Not safe for concurrent use.
type MemoryLastSeen struct {
	max int
	m   map[int64]int64 // Unix seconds
}

// NewMemoryLastSeen returns an empty store of at most max users
// (DefaultMaxLastSeen when max ≤ 0).
func NewMemoryLastSeen(max int) *MemoryLastSeen {
	if max <= 0 {
		max = DefaultMaxLastSeen
	}
	return &MemoryLastSeen{max: max, m: make(map[int64]int64)}
}

// LastSeen implements LastSeenStore.
func (s *MemoryLastSeen) LastSeen(user int64) (time.Time, bool) {
	v, ok := s.m[user]
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(v, 0).UTC(), true
}

// SetLastSeen implements LastSeenStore.
func (s *MemoryLastSeen) SetLastSeen(user int64, t time.Time) {
	if _, ok := s.m[user]; !ok && len(s.m) >= s.max {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[user] = t.Unix()
}
