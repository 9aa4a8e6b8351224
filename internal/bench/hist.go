package bench

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits linear buckets, so a recorded value is off by at most 1/128
// (0.8%) — the "two significant digits" of HDR histograms, without the
// dependency.
const subBits = 7

const subCount = 1 << subBits

// numBuckets covers every non-negative int64.
const numBuckets = (64 - subBits) * subCount

// Histogram is a log-linear histogram of non-negative int64 values
// (nanoseconds, in this tool). The zero value is empty and ready to use. It is
// not safe for concurrent use: each goroutine records into its own and they
// are merged.
type Histogram struct {
	counts []uint64 // allocated on first Record, numBuckets long
	n      uint64
	sum    float64
	min    int64
	max    int64
}

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	msb := bits.Len64(uint64(v)) - 1
	shift := msb - subBits
	sub := int(v>>uint(shift)) - subCount
	return (shift+1)*subCount + sub
}

// bucketHigh returns the largest value that falls into bucket i, which is
// what percentiles report: a percentile is never understated.
func bucketHigh(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := i/subCount - 1
	sub := i % subCount
	low := int64(subCount+sub) << uint(shift)
	return low + (int64(1) << uint(shift)) - 1
}

// Record adds one value; negative values count as zero.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded value, exactly.
func (h *Histogram) Max() int64 { return h.max }

// Min returns the smallest recorded value, exactly.
func (h *Histogram) Min() int64 { return h.min }

// Mean returns the exact mean, or 0 when empty.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q (0..1): the upper edge of the
// bucket holding the ceil(q·n)-th smallest value, capped by the exact max.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank >= h.n {
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketHigh(i), h.max)
		}
	}
	return h.max
}

// Merge adds every value of o into h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h, keeping its buckets allocated.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.n, h.sum, h.min, h.max = 0, 0, 0, 0
}

// HistData is a histogram's wire form: only the non-empty buckets, as
// index/count pairs, so workers can ship theirs to the coordinator cheaply.
type HistData struct {
	Buckets []uint64 `json:"b,omitempty"` // index, count, index, count, ...
	N       uint64   `json:"n"`
	Sum     float64  `json:"sum"`
	Min     int64    `json:"min"`
	Max     int64    `json:"max"`
}

// Data returns h's wire form.
func (h *Histogram) Data() HistData {
	d := HistData{N: h.n, Sum: h.sum, Min: h.min, Max: h.max}
	for i, c := range h.counts {
		if c != 0 {
			d.Buckets = append(d.Buckets, uint64(i), c)
		}
	}
	return d
}

// MergeData adds a wire-form histogram into h. Malformed data (an odd
// length, an index out of range) is an error, and h is left unchanged.
func (h *Histogram) MergeData(d HistData) error {
	if len(d.Buckets)%2 != 0 {
		return fmt.Errorf("bench: histogram data has %d bucket words, want pairs", len(d.Buckets))
	}
	var total uint64
	for i := 0; i < len(d.Buckets); i += 2 {
		if d.Buckets[i] >= numBuckets {
			return fmt.Errorf("bench: histogram bucket %d out of range", d.Buckets[i])
		}
		total += d.Buckets[i+1]
	}
	if total != d.N {
		return fmt.Errorf("bench: histogram buckets hold %d values, header says %d", total, d.N)
	}
	var o Histogram
	o.counts = make([]uint64, numBuckets)
	for i := 0; i < len(d.Buckets); i += 2 {
		o.counts[d.Buckets[i]] += d.Buckets[i+1]
	}
	o.n, o.sum, o.min, o.max = d.N, d.Sum, d.Min, d.Max
	h.Merge(&o)
	return nil
}

// Summary is what reports print of a latency histogram.
type Summary struct {
	N    uint64        `json:"n"`
	Min  time.Duration `json:"min_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
	Mean time.Duration `json:"mean_ns"`
}

// Summary returns h's percentiles as durations.
func (h *Histogram) Summary() Summary {
	return Summary{
		N:    h.n,
		Min:  time.Duration(h.Min()),
		P50:  time.Duration(h.Quantile(0.50)),
		P90:  time.Duration(h.Quantile(0.90)),
		P99:  time.Duration(h.Quantile(0.99)),
		P999: time.Duration(h.Quantile(0.999)),
		Max:  time.Duration(h.Max()),
		Mean: time.Duration(h.Mean()),
	}
}
