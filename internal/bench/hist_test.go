package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHistogramQuantilesWithinPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]int64, 100000)
	for i := range vals {
		// Log-uniform from 1 µs to 100 ms, like latencies.
		v := int64(1000 * pow10(r.Float64()*5))
		vals[i] = v
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/subCount+1 {
			t.Errorf("q%.3f = %d, exact %d: outside 1/%d", q, got, exact, subCount)
		}
	}
	if h.Max() != vals[len(vals)-1] || h.Min() != vals[0] {
		t.Errorf("min/max %d/%d, want %d/%d", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
	}
}

func pow10(x float64) float64 {
	v := 1.0
	for x >= 1 {
		v *= 10
		x--
	}
	// 10^x for x in [0,1) by a few terms is precise enough for test data.
	return v * (1 + x*(2.302585+x*(2.650949+x*(2.034679+x*1.171255))))
}

func TestHistogramBucketsAreContiguous(t *testing.T) {
	prevHigh := int64(-1)
	for i := 0; i < numBuckets-1; i++ {
		lowOfI := prevHigh + 1
		if bucketOf(lowOfI) != i || bucketOf(bucketHigh(i)) != i {
			t.Fatalf("bucket %d: low %d maps to %d, high %d maps to %d", i, lowOfI, bucketOf(lowOfI), bucketHigh(i), bucketOf(bucketHigh(i)))
		}
		prevHigh = bucketHigh(i)
	}
}

func TestHistogramWireRoundTrip(t *testing.T) {
	var a, b, c Histogram
	for v := int64(0); v < 5000; v += 7 {
		a.Record(v * 1000)
		c.Record(v * 1000)
	}
	b.Record(3)
	c.Record(3)
	if err := b.MergeData(a.Data()); err != nil {
		t.Fatal(err)
	}
	if b.Summary() != c.Summary() {
		t.Fatalf("merged %+v, want %+v", b.Summary(), c.Summary())
	}
	if err := b.MergeData(HistData{Buckets: []uint64{numBuckets, 1}, N: 1}); err == nil {
		t.Fatal("out-of-range bucket accepted")
	}
	if err := b.MergeData(HistData{Buckets: []uint64{1}, N: 1}); err == nil {
		t.Fatal("odd bucket list accepted")
	}
	if err := b.MergeData(HistData{Buckets: []uint64{1, 2}, N: 1}); err == nil {
		t.Fatal("count mismatch accepted")
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Fatal("empty histogram is not zero")
	}
	h.Record(-5)
	if h.Max() != 0 {
		t.Fatal("negative value not clamped")
	}
}
