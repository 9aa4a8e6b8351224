package shared

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDecodeFriendList(t *testing.T) {
	good := []struct {
		in   string
		want []int64
	}{
		{`[]`, []int64{}},
		{` [3, 2,2 ,7] `, []int64{2, 3, 7}},
		{"[1,9,9223372036854775807]\n", []int64{9, 9223372036854775807}}, // self (1) dropped
	}
	for _, c := range good {
		got, err := DecodeFriendList([]byte(c.in), 1, 5)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("DecodeFriendList(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, code string }{
		{``, CodeBadFriends},
		{`   `, CodeBadFriends},
		{`null`, CodeBadFriends},
		{`{"friends":[2]}`, CodeBadFriends},
		{`"[2]"`, CodeBadFriends},
		{`[2,"3"]`, CodeBadFriends},
		{`[2,-3]`, CodeBadFriends},
		{`[0]`, CodeBadFriends},
		{`[2.5]`, CodeBadFriends},
		{`[1e3]`, CodeBadFriends},
		{`[9223372036854775808]`, CodeBadFriends},
		{`[2,[3]]`, CodeBadFriends},
		{`[2,3`, CodeBadJSON},
		{`[2] [3]`, CodeBadJSON},
		{`[1,2,3,4,5,6]`, CodeTooManyFriends},
		{`[` + strings.Repeat("7,", 1000) + `7]`, CodeTooManyFriends},
	}
	for _, c := range bad {
		got, err := DecodeFriendList([]byte(c.in), 1, 5)
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Code != c.code || got != nil {
			t.Errorf("DecodeFriendList(%q) = %v, %v; want code %s and no list", c.in, got, err, c.code)
		}
	}
}

func FuzzDecodeFriendList(f *testing.F) {
	f.Add([]byte(`[2,3]`))
	f.Add([]byte(` [ 9223372036854775807 , 1 ] `))
	f.Fuzz(func(t *testing.T, data []byte) {
		ids, err := DecodeFriendList(data, 1, 100)
		if err != nil {
			if ids != nil {
				t.Fatalf("error %v with a list %v", err, ids)
			}
			return
		}
		if len(ids) > 100 || !slices.IsSorted(ids) || slices.Contains(ids, 1) {
			t.Fatalf("bad result %v", ids)
		}
		for i, id := range ids {
			if id <= 0 || (i > 0 && ids[i-1] == id) {
				t.Fatalf("bad result %v", ids)
			}
		}
	})
}
