package client

import (
	"math/rand/v2"
	"time"
)

// backoff returns how long to wait after the n-th failure in a row (n ≥ 1):
// lo doubled per failure, capped at hi, then jittered to a uniform value
// in [d/2, d). The jitter matters when a gateway dies: all its clients see
// the drop at the same instant, and without it they would all come back in
// the same instant too.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	if d > hi {
		d = hi
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(d-half)
}
