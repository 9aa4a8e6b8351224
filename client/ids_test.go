package client

import (
	"errors"
	"slices"
	"testing"
)

func TestParseIDs(t *testing.T) {
	for in, want := range map[string][]int64{
		"":                    {},
		"2":                   {2},
		"2,3":                 {2, 3},
		" 2, 3  5,,\t7":       {2, 3, 5, 7},
		"9223372036854775807": {9223372036854775807},
	} {
		got, err := ParseIDs(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseIDs(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "1.5", "x", "2,a", "9223372036854775808"} {
		if _, err := ParseIDs(in); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseIDs(%q): err %v, want ErrBadID", in, err)
		}
	}
}

func TestNormalizeFriends(t *testing.T) {
	got, err := normalizeFriends([]int64{5, 1, 3, 5, 2}, 2)
	if err != nil || !slices.Equal(got, []int64{1, 3, 5}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := normalizeFriends([]int64{1, 0}, 2); !errors.Is(err, ErrBadID) {
		t.Fatalf("zero id: %v", err)
	}
}
