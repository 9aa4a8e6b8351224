package gateway

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_000_000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// onClock makes t read time from c.
func onClock[K comparable](t *limitTable[K], c *fakeClock) {
	t.epoch, t.now = c.now(), c.now
}

func newTestAdmission(tb testing.TB, cfg AdmissionConfig) (*Admission, *fakeClock) {
	tb.Helper()
	a, err := NewAdmission(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	c := newFakeClock()
	onClock(a.ips, c)
	return a, c
}

// ipN is the n-th of a run of distinct IPv4 addresses.
func ipN(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
}

func TestKeyOfGroupsIPv6By64(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"192.0.2.1", "::ffff:192.0.2.1", true}, // a v4 client on a dual-stack socket
		{"2001:db8::1", "2001:db8::ffff:1234:1", true},
		{"2001:db8::1", "2001:db8:0:1::1", false},
		{"::", "0.0.0.0", false},
		{"::ffff:0.0.0.0", "0.0.0.0", true},
	} {
		ka, kb := keyOf(netip.MustParseAddr(tc.a)), keyOf(netip.MustParseAddr(tc.b))
		if (ka == kb) != tc.same {
			t.Errorf("%s and %s: same key %v, want %v", tc.a, tc.b, ka == kb, tc.same)
		}
	}
}

// admissionStep is one step of an admission script: admit from ip (want
// the error), release the lease of an earlier step, or let time pass.
type admissionStep struct {
	admit   string
	want    error
	release int // 1-based step whose lease to release
	wait    time.Duration
}

func TestAdmissionLimits(t *testing.T) {
	a1, a2 := "192.0.2.1", "192.0.2.2"
	for _, tc := range []struct {
		name  string
		cfg   AdmissionConfig
		steps []admissionStep
	}{
		{"per-IP cap", AdmissionConfig{MaxConnsPerIP: 2, ConnRatePerIP: -1, MaxConns: 100}, []admissionStep{
			{admit: a1}, {admit: a1}, {admit: a1, want: ErrConnsPerIP},
			{admit: a2}, // another source is not affected
			{release: 1}, {admit: a1}, {admit: a1, want: ErrConnsPerIP},
		}},
		{"per-IP cap on an IPv6 /64", AdmissionConfig{MaxConnsPerIP: 2, ConnRatePerIP: -1, MaxConns: 100}, []admissionStep{
			{admit: "2001:db8::1"}, {admit: "2001:db8::2"}, {admit: "2001:db8::3", want: ErrConnsPerIP},
			{admit: "2001:db8:0:1::1"},
		}},
		{"rate", AdmissionConfig{MaxConnsPerIP: -1, ConnRatePerIP: 10, ConnBurstPerIP: 3, MaxConns: 100}, []admissionStep{
			{admit: a1}, {admit: a1}, {admit: a1}, {admit: a1, want: ErrConnRate},
			{admit: a2},
			{wait: 99 * time.Millisecond}, {admit: a1, want: ErrConnRate},
			{wait: time.Millisecond}, {admit: a1}, {admit: a1, want: ErrConnRate},
			{wait: time.Hour}, {admit: a1}, {admit: a1}, {admit: a1}, {admit: a1, want: ErrConnRate}, // refilled to the burst, no more
		}},
		{"a refusal at the cap costs no token", AdmissionConfig{MaxConnsPerIP: 1, ConnRatePerIP: 1, ConnBurstPerIP: 2, MaxConns: 100}, []admissionStep{
			{admit: a1}, {admit: a1, want: ErrConnsPerIP}, {admit: a1, want: ErrConnsPerIP},
			{release: 1}, {admit: a1}, // the second token is still there
		}},
		{"total", AdmissionConfig{MaxConnsPerIP: -1, ConnRatePerIP: -1, MaxConns: 16}, append(func() []admissionStep {
			var s []admissionStep
			for i := range 16 {
				s = append(s, admissionStep{admit: ipN(i).String()})
			}
			return s
		}(), admissionStep{admit: a1, want: ErrConnsTotal}, admissionStep{release: 3}, admissionStep{admit: a1},
			admissionStep{admit: a2, want: ErrConnsTotal})},
		{"off", AdmissionConfig{MaxConnsPerIP: -1, ConnRatePerIP: -1, MaxConns: -1}, func() []admissionStep {
			s := make([]admissionStep, 1000)
			for i := range s {
				s[i].admit = a1
			}
			return s
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, clk := newTestAdmission(t, tc.cfg)
			leases := make([]Lease, len(tc.steps)+1)
			for i, st := range tc.steps {
				switch {
				case st.admit != "":
					l, err := a.Admit(netip.MustParseAddr(st.admit))
					if !errors.Is(err, st.want) || (err == nil) != (st.want == nil) {
						t.Fatalf("step %d: admit %s: %v, want %v", i+1, st.admit, err, st.want)
					}
					if err != nil {
						var le *LimitError
						if !errors.As(err, &le) || le.Protocol().Code != "too_many_connections" {
							t.Fatalf("step %d: %v is not a too_many_connections LimitError", i+1, err)
						}
					}
					leases[i+1] = l
				case st.release > 0:
					leases[st.release].Release()
				default:
					clk.advance(st.wait)
				}
			}
		})
	}
}

func TestAdmissionWithoutAddress(t *testing.T) {
	a, _ := newTestAdmission(t, AdmissionConfig{MaxConnsPerIP: 1, ConnRatePerIP: 1, ConnBurstPerIP: 1, MaxConns: 16})
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	ip := RemoteIP(c1)
	if ip.IsValid() {
		t.Fatalf("a pipe has address %v", ip)
	}
	var leases []Lease
	for i := range 16 { // not against one source's limits: only the total
		l, err := a.Admit(ip)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		leases = append(leases, l)
	}
	if _, err := a.Admit(ip); !errors.Is(err, ErrConnsTotal) {
		t.Fatalf("over the total: %v", err)
	}
	for _, l := range leases {
		l.Release()
	}
	if a.Conns() != 0 || a.Sources() != 0 {
		t.Fatalf("%d connections, %d sources after the releases", a.Conns(), a.Sources())
	}
}

func TestAdmissionTotalBelowFileLimit(t *testing.T) {
	defer func(f func() (uint64, error)) { rlimitNofile = f }(rlimitNofile)
	rlimitNofile = func() (uint64, error) { return 100, nil }
	a, _ := newTestAdmission(t, AdmissionConfig{ConnRatePerIP: -1})
	if got, want := a.Config().MaxConns, 100-DefaultFDReserve; got != want {
		t.Fatalf("MaxConns %d with a file limit of 100, want %d", got, want)
	}
	var leases []Lease
	for i := range 100 {
		l, err := a.Admit(ipN(i))
		if err != nil {
			if !errors.Is(err, ErrConnsTotal) || i != 100-DefaultFDReserve {
				t.Fatalf("connection %d: %v", i, err)
			}
			break
		}
		leases = append(leases, l)
	}
	if a.Conns() != 100-DefaultFDReserve {
		t.Fatalf("%d connections held", a.Conns())
	}
	// AdmitSource (the HTTP listener's: /healthz) still works when full.
	if l, err := a.AdmitSource(ipN(1000)); err != nil {
		t.Fatalf("AdmitSource when full: %v", err)
	} else {
		l.Release()
	}
	if _, err := a.AdmitTotal(); !errors.Is(err, ErrConnsTotal) {
		t.Fatalf("AdmitTotal when full: %v", err)
	}
	for _, l := range leases {
		l.Release()
	}
	if a.Conns() != 0 {
		t.Fatalf("%d connections held after every release", a.Conns())
	}

	rlimitNofile = func() (uint64, error) { return 70, nil }
	if _, err := NewAdmission(AdmissionConfig{}); err == nil {
		t.Fatal("a file limit of 70 leaves 6 connections: want an error")
	}
}

func TestAdmissionEntriesExpire(t *testing.T) {
	a, clk := newTestAdmission(t, AdmissionConfig{ConnRatePerIP: 10, ConnBurstPerIP: 20, MaxConns: 100})
	var leases []Lease
	for i := range 50 {
		l, err := a.Admit(ipN(i))
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	for _, l := range leases[:40] {
		l.Release()
	}
	clk.advance(time.Second) // 10 tokens back: not yet full
	a.Admit(ipN(1000))       // every shard sweeps on its first use
	clk.advance(time.Minute)
	for i := range limitShards { // one admission in each shard sweeps it
		for j := 2000; ; j++ {
			if a.ips.hash(keyOf(ipN(j)))%limitShards == uint64(i) {
				l, err := a.Admit(ipN(j))
				if err != nil {
					t.Fatal(err)
				}
				l.Release()
				break
			}
		}
	}
	// Left: the 10 holding connections, 1000 (holding), and the 64 just
	// admitted and released, whose buckets are not full yet.
	if n := a.Sources(); n != 10+1+limitShards {
		t.Fatalf("%d sources remembered, want %d", n, 10+1+limitShards)
	}
}

func TestAdmissionFloodOfAddresses(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        AdmissionConfig
		hold       bool // every admitted connection stays open
		n          int
		wantRefuse error
	}{
		// Connections opened and closed from a million addresses: the
		// table stays at its bound by evicting idle entries, nobody refused.
		{"churn", AdmissionConfig{MaxConns: 20000 - DefaultFDReserve}, false, 1_000_000, nil},
		// Every address holds its connection and there is no total cap:
		// at the bound, new addresses are refused.
		{"held", AdmissionConfig{MaxConns: -1, MaxSources: 4096}, true, 10_000, ErrSourceTable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			a, _ := newTestAdmission(t, tc.cfg)
			bound := a.Config().MaxSources
			refused := 0
			for i := range tc.n {
				l, err := a.Admit(ipN(i))
				switch {
				case err == nil && !tc.hold:
					l.Release()
				case err != nil && !errors.Is(err, tc.wantRefuse):
					t.Fatalf("address %d: %v", i, err)
				case err != nil:
					refused++
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			n := a.Sources()
			perShard := (bound + limitShards - 1) / limitShards
			if n > perShard*limitShards {
				t.Fatalf("%d sources remembered, bound %d", n, bound)
			}
			// Unbounded, a million addresses would take ~150 MiB.
			if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 32<<20 {
				t.Errorf("the heap grew by %d MiB", grew>>20)
			}
			if (tc.wantRefuse != nil) != (refused > 0) {
				t.Fatalf("%d refused", refused)
			}
			t.Logf("%d addresses: %d remembered (bound %d), %d refused, heap %+.1f MiB",
				tc.n, n, bound, refused, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20))
			runtime.KeepAlive(a)
		})
	}
}

func TestAdmissionConcurrent(t *testing.T) {
	const capPerIP, ips, workers, rounds = 3, 8, 8, 2000
	a, err := NewAdmission(AdmissionConfig{MaxConnsPerIP: capPerIP, ConnRatePerIP: -1, MaxConns: 20})
	if err != nil {
		t.Fatal(err)
	}
	var held [ips]atomic.Int32
	var total, over atomic.Int32
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				i := r.IntN(ips)
				l, err := a.Admit(ipN(i))
				if err != nil {
					continue
				}
				if held[i].Add(1) > capPerIP || total.Add(1) > 20 {
					over.Add(1)
				}
				runtime.Gosched()
				total.Add(-1)
				held[i].Add(-1)
				l.Release()
			}
		}()
	}
	wg.Wait()
	if over.Load() > 0 {
		t.Fatalf("a cap was passed %d times", over.Load())
	}
	if a.Conns() != 0 {
		t.Fatalf("%d connections held after every release", a.Conns())
	}
	for i := range ips {
		if _, err := a.Admit(ipN(i)); err != nil {
			t.Fatalf("address %d after the run: %v", i, err)
		}
	}
}

func TestSourceRate(t *testing.T) {
	r := NewSourceRate(10, 2, 100)
	clk := newFakeClock()
	onClock(r.t, clk)
	v, w := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i, want := range []bool{true, true, false, false} {
		if got := r.Allow(v); got != want {
			t.Fatalf("reply %d: %v, want %v", i, got, want)
		}
	}
	if !r.Allow(w) {
		t.Fatal("another source is throttled")
	}
	clk.advance(100 * time.Millisecond)
	if !r.Allow(v) || r.Allow(v) {
		t.Fatal("one token a tenth of a second")
	}
}

func TestUserLimits(t *testing.T) {
	newUL := func(t *testing.T, cfg UserLimitsConfig) (*UserLimits, *fakeClock) {
		u, err := NewUserLimits(cfg, 1000)
		if err != nil {
			t.Fatal(err)
		}
		c := newFakeClock()
		onClock(u.t, c)
		return u, c
	}
	t.Run("sessions", func(t *testing.T) {
		u, _ := newUL(t, UserLimitsConfig{MaxSessionsPerUser: 2, FriendUpdatesPerSec: -1})
		for i, want := range []error{nil, nil, ErrSessionsPerUser} {
			if err := u.Open(1, true); !errors.Is(err, want) || (err == nil) != (want == nil) {
				t.Fatalf("session %d: %v, want %v", i, err, want)
			}
		}
		var le *LimitError
		if err := u.Open(1, false); !errors.As(err, &le) || le.Code != "too_many_sessions" {
			t.Fatalf("%v", err)
		}
		if err := u.Open(2, true); err != nil {
			t.Fatalf("another user: %v", err)
		}
		u.Close(1)
		if err := u.Open(1, true); err != nil {
			t.Fatalf("after a close: %v", err)
		}
	})
	t.Run("friend updates", func(t *testing.T) {
		u, clk := newUL(t, UserLimitsConfig{FriendUpdatesPerSec: 1, FriendUpdateBurst: 3})
		if err := u.Open(1, true); err != nil { // the hello's list: one token
			t.Fatal(err)
		}
		if err := u.Open(1, false); err != nil { // no list: none
			t.Fatal(err)
		}
		for i, want := range []error{nil, nil, ErrFriendRate} {
			if err := u.FriendUpdate(1); !errors.Is(err, want) || (err == nil) != (want == nil) {
				t.Fatalf("update %d: %v, want %v", i, err, want)
			}
		}
		if err := u.FriendUpdate(2); err != nil {
			t.Fatalf("another user: %v", err)
		}
		// Closing every session and opening one again does not refill.
		u.Close(1)
		u.Close(1)
		if err := u.Open(1, true); !errors.Is(err, ErrFriendRate) {
			t.Fatalf("a hello with friends right after: %v, want %v", err, ErrFriendRate)
		}
		clk.advance(time.Second)
		if err := u.Open(1, true); err != nil {
			t.Fatalf("a second later: %v", err)
		}
		var le *LimitError
		if err := u.FriendUpdate(1); !errors.As(err, &le) || le.Code != "friends_rate_limited" {
			t.Fatalf("%v", err)
		}
	})
}

func TestFriendUnionWithin(t *testing.T) {
	seq := func(from, n int) []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = int64(from + i)
		}
		return s
	}
	many := make([][]int64, 20) // more lists than the stack holds
	for i := range many {
		many[i] = seq(i*10, 10)
	}
	for _, tc := range []struct {
		name  string
		lists [][]int64
		limit int
		want  bool
	}{
		{"none", nil, 0, true},
		{"one within", [][]int64{seq(1, 5)}, 5, true},
		{"one over", [][]int64{seq(1, 6)}, 5, false},
		{"same lists", [][]int64{seq(1, 5), seq(1, 5), seq(1, 5)}, 5, true},
		{"overlap within", [][]int64{seq(1, 5), seq(3, 5)}, 7, true},
		{"overlap over", [][]int64{seq(1, 5), seq(3, 5)}, 6, false},
		{"disjoint", [][]int64{{1, 3, 5}, {2, 4, 6}}, 6, true},
		{"disjoint over", [][]int64{{1, 3, 5}, {2, 4, 6}}, 5, false},
		{"empty lists", [][]int64{{}, seq(1, 2), {}}, 2, true},
		{"no limit", [][]int64{seq(1, 100), seq(1000, 100)}, -1, true},
		{"20 lists within", many, 200, true},
		{"20 lists over", many, 199, false},
		{"attack: 100 sessions x 5,000 different", func() [][]int64 {
			l := make([][]int64, 100)
			for i := range l {
				l[i] = seq(i*5000, 5000)
			}
			return l
		}(), DefaultMaxFriendUnion, false},
	} {
		if got := FriendUnionWithin(tc.lists, tc.limit); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	lists := [][]int64{seq(1, 50), seq(30, 50)}
	if n := testing.AllocsPerRun(100, func() { FriendUnionWithin(lists, 60) }); n > 0 {
		t.Errorf("%v allocations", n)
	}
}

func BenchmarkAdmit(b *testing.B) {
	b.Run("distinct", func(b *testing.B) {
		a, _ := newTestAdmission(b, AdmissionConfig{MaxConns: -1})
		var next atomic.Int32
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			base := int(next.Add(1)) << 12
			i := 0
			for pb.Next() {
				l, err := a.Admit(ipN(base + i&4095))
				if err == nil {
					l.Release()
				}
				i++
			}
		})
	})
	b.Run("one-source", func(b *testing.B) {
		a, _ := newTestAdmission(b, AdmissionConfig{MaxConnsPerIP: -1, ConnRatePerIP: -1, MaxConns: -1})
		ip := netip.MustParseAddr("192.0.2.1")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l, err := a.Admit(ip)
				if err != nil {
					b.Error(err)
					return
				}
				l.Release()
			}
		})
	})
	b.Run("flood-new-addresses", func(b *testing.B) {
		a, _ := newTestAdmission(b, AdmissionConfig{MaxConns: 20000})
		b.ReportAllocs()
		for i := range b.N {
			l, err := a.Admit(ipN(i))
			if err == nil {
				l.Release()
			}
		}
	})
}

func BenchmarkFriendUnion(b *testing.B) {
	lists := make([][]int64, 16)
	for i := range lists {
		lists[i] = make([]int64, 5000)
		for j := range lists[i] {
			lists[i][j] = int64(j * (i + 1))
		}
	}
	b.ReportAllocs()
	for range b.N {
		FriendUnionWithin(lists, DefaultMaxFriendUnion)
	}
}
