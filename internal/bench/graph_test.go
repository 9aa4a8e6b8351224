package bench

import (
	"slices"
	"testing"
)

func TestUniformGraph(t *testing.T) {
	g, err := GraphSpec{Kind: GraphUniform, Users: 1000, K: 20, Seed: 7}.Build()
	if err != nil {
		t.Fatal(err)
	}
	for i, fs := range g.Friends {
		if len(fs) != 20 {
			t.Fatalf("user %d has %d friends", i, len(fs))
		}
		s := slices.Clone(fs)
		slices.Sort(s)
		if len(slices.Compact(s)) != 20 || slices.Contains(fs, int32(i)) {
			t.Fatalf("user %d friends %v: duplicate or self", i, fs)
		}
	}
	g2, _ := GraphSpec{Kind: GraphUniform, Users: 1000, K: 20, Seed: 7}.Build()
	if !slices.Equal(g.Friends[999], g2.Friends[999]) {
		t.Fatal("same seed built different graphs")
	}
	_, med, mx := g.DegreeStats()
	if med < 10 || mx > 60 {
		t.Fatalf("uniform watcher degrees median %d max %d look skewed", med, mx)
	}
}

func TestPowerLawGraphHasHotUsers(t *testing.T) {
	g, err := GraphSpec{Kind: GraphPowerLaw, Users: 10000, K: 20, Seed: 3}.Build()
	if err != nil {
		t.Fatal(err)
	}
	_, med, mx := g.DegreeStats()
	if mx < 20*med || mx < 1000 {
		t.Fatalf("power law watcher degrees median %d max %d: no hot users", med, mx)
	}
	for i, fs := range g.Friends {
		if len(fs) != 20 {
			t.Fatalf("user %d has %d friends", i, len(fs))
		}
	}
}

func TestHotWatchers(t *testing.T) {
	g, err := GraphSpec{Users: 101, K: 3, HotW: 100, Seed: 1}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if w := g.Watchers(); len(w[0]) != 100 {
		t.Fatalf("hot user has %d watchers, want 100", len(w[0]))
	}
}

func TestGraphSpecValidate(t *testing.T) {
	for _, s := range []GraphSpec{
		{Users: 0},
		{Users: 5, K: 5},
		{Users: 5, K: -1},
		{Users: 5, Kind: "ring"},
		{Users: 5, Kind: GraphPowerLaw, ZipfS: 0.5},
		{Users: 5, HotW: 5},
	} {
		if _, err := s.Build(); err == nil {
			t.Errorf("%+v: built", s)
		}
	}
}
