package bench

import "time"

// Clock puts every process of a run on one time line: nanoseconds since the
// run's epoch, a wall-clock instant the coordinator picks and hands to its
// workers. The wall clock is read once per process and the monotonic clock
// after that, so a step of the wall clock mid-run moves nothing; two
// processes disagree by no more than two reads of the same system clock.
type Clock struct {
	base time.Time
	off  int64
}

// NewClock returns a clock whose zero is epochWall (Unix nanoseconds).
func NewClock(epochWall int64) Clock {
	b := time.Now()
	return Clock{base: b, off: b.UnixNano() - epochWall}
}

// Now returns nanoseconds since the epoch.
func (c Clock) Now() int64 { return c.off + int64(time.Since(c.base)) }

// Until returns how long until epoch-relative instant t.
func (c Clock) Until(t int64) time.Duration { return time.Duration(t - c.Now()) }
