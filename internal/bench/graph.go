package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// GraphKind names a friend-graph generator.
type GraphKind string

// The graph generators.
const (
	// GraphUniform gives every user K friends drawn uniformly.
	GraphUniform GraphKind = "uniform"
	// GraphPowerLaw gives every user K friends drawn from a Zipf law over a
	// shuffled popularity order, so a few hot users are watched by many.
	GraphPowerLaw GraphKind = "powerlaw"
)

// GraphSpec says how to build a friend graph. The same spec and seed build
// the same graph in every process, which is how workers agree on it without
// shipping it.
type GraphSpec struct {
	Kind  GraphKind `json:"kind"`
	Users int       `json:"users"`  // number of users, ≥ 1
	K     int       `json:"k"`      // friends per user, 0 ≤ K < Users
	ZipfS float64   `json:"zipf_s"` // power law exponent, > 1; default 1.2
	Seed  uint64    `json:"seed"`   // generator seed
	// HotW users (1..HotW) list user 0, the hot user, first; it counts as
	// one of their K friends.
	HotW int `json:"hot_watchers,omitempty"`
}

// Graph is a directed friend graph over user indices 0..N-1: Friends[i] is
// the friend list user i sends in its hello, so i watches each of them.
type Graph struct {
	Friends [][]int32
}

// Validate reports a spec that cannot be built.
func (s GraphSpec) Validate() error {
	switch {
	case s.Users < 1:
		return fmt.Errorf("bench: graph needs at least one user, got %d", s.Users)
	case s.Users > 1<<31-1:
		return fmt.Errorf("bench: graph of %d users is too large", s.Users)
	case s.K < 0 || (s.K >= s.Users && s.K > 0):
		return fmt.Errorf("bench: %d friends each needs more than %d users", s.K, s.Users)
	case s.HotW < 0 || s.HotW > s.Users-1:
		return fmt.Errorf("bench: %d hot-user watchers needs more than %d users", s.HotW, s.Users)
	}
	switch s.Kind {
	case GraphUniform, "":
	case GraphPowerLaw:
		if s.ZipfS != 0 && s.ZipfS <= 1 {
			return fmt.Errorf("bench: zipf exponent must be > 1, got %g", s.ZipfS)
		}
	default:
		return fmt.Errorf("bench: unknown graph kind %q (want uniform or powerlaw)", s.Kind)
	}
	return nil
}

// Build generates the graph the spec describes.
func (s GraphSpec) Build() (*Graph, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(s.Seed, 0x616c6f2d67726170)) // "alo-grap"
	g := &Graph{Friends: make([][]int32, s.Users)}
	// One backing array keeps a 100k-user graph to a single allocation.
	backing := make([]int32, 0, s.Users*(s.K+1))
	seen := make(map[int32]struct{}, s.K+1)
	var draw func() int32
	switch s.Kind {
	case GraphPowerLaw:
		zs := s.ZipfS
		if zs == 0 {
			zs = 1.2
		}
		// Popularity rank → user, shuffled so hot users are spread over the
		// id space (and over workers, which own users by index).
		perm := r.Perm(s.Users)
		z := newZipf(r, zs, s.Users)
		draw = func() int32 { return int32(perm[z.next()]) }
	default:
		draw = func() int32 { return int32(r.IntN(s.Users)) }
	}
	for i := 0; i < s.Users; i++ {
		clear(seen)
		start := len(backing)
		seen[int32(i)] = struct{}{}
		want := s.K
		if i > 0 && i <= s.HotW {
			backing = append(backing, 0)
			seen[0] = struct{}{}
			want = max(want, 1)
		}
		// A skewed law can make distinct draws rare; after a bounded number
		// of tries the rest are filled uniformly so Build always ends.
		for tries := 0; len(backing)-start < want && tries < 20*want+20; tries++ {
			f := draw()
			if _, dup := seen[f]; dup {
				continue
			}
			seen[f] = struct{}{}
			backing = append(backing, f)
		}
		for len(backing)-start < want {
			f := int32(r.IntN(s.Users))
			if _, dup := seen[f]; dup {
				continue
			}
			seen[f] = struct{}{}
			backing = append(backing, f)
		}
		g.Friends[i] = backing[start:len(backing):len(backing)]
	}
	return g, nil
}

// Watchers returns, for each user, the users whose lists contain it.
func (g *Graph) Watchers() [][]int32 {
	counts := make([]int, len(g.Friends))
	for _, fs := range g.Friends {
		for _, f := range fs {
			counts[f]++
		}
	}
	w := make([][]int32, len(g.Friends))
	for i, c := range counts {
		w[i] = make([]int32, 0, c)
	}
	for i, fs := range g.Friends {
		for _, f := range fs {
			w[f] = append(w[f], int32(i))
		}
	}
	return w
}

// DegreeStats returns the smallest, median and largest number of watchers
// per user, to show how skewed a graph is.
func (g *Graph) DegreeStats() (minW, medW, maxW int) {
	counts := make([]int, len(g.Friends))
	for _, fs := range g.Friends {
		for _, f := range fs {
			counts[f]++
		}
	}
	slices.Sort(counts)
	return counts[0], counts[len(counts)/2], counts[len(counts)-1]
}

// zipf draws ranks 0..n-1 with P(k) ∝ 1/(k+1)^s by inverting a cumulative
// table: exact, and O(log n) a draw.
type zipf struct {
	r   *rand.Rand
	cdf []float64
}

func newZipf(r *rand.Rand, s float64, n int) *zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for k := range n {
		sum += 1 / math.Pow(float64(k+1), s)
		cdf[k] = sum
	}
	for k := range cdf {
		cdf[k] /= sum
	}
	return &zipf{r: r, cdf: cdf}
}

func (z *zipf) next() int {
	u := z.r.Float64()
	i, _ := slices.BinarySearch(z.cdf, u)
	if i >= len(z.cdf) {
		i = len(z.cdf) - 1
	}
	return i
}
