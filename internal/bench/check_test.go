package bench

import (
	"strings"
	"testing"
)

func TestCheckAgainstHistory(t *testing.T) {
	const d = 100 // deadline
	type tr struct{ start, confirm int64 }
	for _, c := range []struct {
		name string
		x    []tr
		rec  []bool
		want matchResult
	}{
		{"nothing happened", nil, nil, matchResult{}},
		{"online before, snapshot", []tr{{10, 20}}, []bool{true}, matchResult{}},
		{"online before, snapshot missing", []tr{{10, 20}}, nil, matchResult{lost: 1}},
		{"snapshot then offline", []tr{{10, 20}, {300, 0}}, []bool{true, false}, matchResult{}},
		{"offline lost", []tr{{10, 20}, {300, 0}}, []bool{true}, matchResult{lost: 1}},
		{"duplicate online", []tr{{10, 20}, {300, 0}}, []bool{true, true, false}, matchResult{dup: 1}},
		{"offline when never online", nil, []bool{false}, matchResult{spurious: 1}},
		{"spurious pair", nil, []bool{true, false}, matchResult{spurious: 2}},
		{"online racing the hello, live", []tr{{55, 65}}, []bool{true}, matchResult{}},
		{"online racing the hello, missing", []tr{{55, 65}}, nil, matchResult{lost: 1}},
		{"offline racing the hello, seen", []tr{{0, 5}, {45, 0}}, []bool{true, false}, matchResult{}},
		{"offline racing the hello, unseen", []tr{{0, 5}, {45, 0}}, nil, matchResult{}},
		{"offline racing the hello, half", []tr{{0, 5}, {45, 0}}, []bool{true}, matchResult{lost: 1}},
		{"online near the end, seen", []tr{{950, 960}}, []bool{true}, matchResult{}},
		{"online near the end, unseen", []tr{{950, 960}}, nil, matchResult{}},
		{"after the end", []tr{{1001, 0}}, nil, matchResult{}},
		{"after the end, received anyway", []tr{{1001, 0}}, []bool{true}, matchResult{spurious: 1}},
		{"cycles", []tr{{100, 110}, {300, 0}, {500, 510}, {700, 0}}, []bool{true, false, true, false}, matchResult{}},
		{"cycle middle lost", []tr{{100, 110}, {300, 0}, {500, 510}, {700, 0}}, []bool{true, false}, matchResult{lost: 2}},
		{"void online may be missing", []tr{{100, Void}, {120, 0}}, nil, matchResult{}},
		// The friend's own ready never came: the server was too far behind
		// to say whether it registered before the watcher left.
		{"online never confirmed, unseen", []tr{{300, 0}}, nil, matchResult{}},
		{"online never confirmed, seen", []tr{{300, 0}}, []bool{true}, matchResult{}},
		// A short session: a transition racing the registration is also
		// too close to the end to be owed.
		{"short session, racing online unseen", []tr{{55, 90}}, nil, matchResult{}},
		{"short session, racing offline unseen", []tr{{0, 5}, {45, 0}}, []bool{true}, matchResult{}},
	} {
		h := NewHistory(2, 8)
		for _, x := range c.x {
			k, err := h.Append(1, x.start)
			if err != nil {
				t.Fatal(err)
			}
			h.Confirm(1, k, x.confirm)
		}
		w := window{helloAt: 50, readyAt: 60, endAt: 1000}
		if strings.HasPrefix(c.name, "short") {
			w.endAt = 100
		}
		l, lo, hi, owed := expected(h, 1, w, d, nil)
		got, _ := match(l, lo, hi, owed, c.rec, nil)
		if got != c.want {
			t.Errorf("%s: expected %v cut %d..%d owed %d, received %v: got %+v, want %+v", c.name, l, lo, hi, owed, c.rec, got, c.want)
		}
	}
}

func TestHistoryShared(t *testing.T) {
	path := t.TempDir() + "/h"
	a, err := CreateHistory(path, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	k, _ := a.Append(2, 123)
	a.Confirm(2, k, 456)
	if b.Count(2) != 1 || b.Count(1) != 0 {
		t.Fatalf("counts %d %d", b.Count(2), b.Count(1))
	}
	if s, c := b.At(2, 0); s != 123 || c != 456 {
		t.Fatalf("At = %d %d", s, c)
	}
	for range 3 {
		if _, err := a.Append(2, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Append(2, 1); err == nil {
		t.Fatal("append past the slots")
	}
}
