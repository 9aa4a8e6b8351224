package client

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrBadID reports a user id that is not a positive 64-bit integer.
var ErrBadID = errors.New("client: user id must be a positive integer")

// ParseIDs parses a list of user ids separated by commas and/or spaces,
// such as "2,3" or "2, 3 5". An empty string is an empty list.
func ParseIDs(s string) ([]int64, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	ids := make([]int64, 0, len(fields))
	for _, f := range fields {
		id, err := ParseID(f)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// ParseID parses one user id.
func ParseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: %q", ErrBadID, s)
	}
	return id, nil
}

// normalizeFriends returns a sorted copy of ids without duplicates and
// without self, the form the server keeps, so what the client shows matches
// what the server applies.
func normalizeFriends(ids []int64, self int64) ([]int64, error) {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if id <= 0 {
			return nil, fmt.Errorf("%w: %d", ErrBadID, id)
		}
		if id != self {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
