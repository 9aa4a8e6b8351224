package friends

import (
	"slices"
	"testing"
)

func TestPending(t *testing.T) {
	var p Pending
	p.Change(Entry{User: 1, Friends: []int64{9}, Revision: 5}) // no hello: not kept
	if p.Len() != 0 {
		t.Fatal("a change without a hello was kept")
	}

	// A change after the lookup's revision wins over the lookup.
	p.Begin(1)
	p.Change(Entry{User: 1, Friends: []int64{2}, Revision: 7})
	p.Change(Entry{User: 1, Friends: []int64{3}, Revision: 6}) // older: ignored
	p.Change(Entry{User: 2, Friends: []int64{4}, Revision: 8}) // another user
	got := p.End(Entry{User: 1, Friends: []int64{1}, Revision: 4})
	if got.Revision != 7 || !slices.Equal(got.Friends, []int64{2}) {
		t.Errorf("End = %+v, want the change at revision 7", got)
	}

	// A lookup newer than the changes seen wins; a delete (no friends) counts.
	p.Begin(1)
	p.Change(Entry{User: 1, Revision: 9})
	if got := p.End(Entry{User: 1, Friends: []int64{5}, Revision: 10}); got.Revision != 10 {
		t.Errorf("End = %+v, want the lookup", got)
	}
	p.Begin(1)
	p.Change(Entry{User: 1, Revision: 12})
	if got := p.End(Entry{User: 1, Friends: []int64{5}, Revision: 10}); got.Revision != 12 || got.Friends != nil {
		t.Errorf("End = %+v, want the delete at 12", got)
	}

	// Two hellos of one user: the record lives until both end.
	p.Begin(3)
	p.Begin(3)
	if got := p.Users(nil); !slices.Equal(got, []int64{3}) {
		t.Errorf("Users = %v, want [3]", got)
	}
	p.End(Entry{User: 3})
	p.Change(Entry{User: 3, Friends: []int64{1}, Revision: 2})
	if got := p.End(Entry{User: 3}); got.Revision != 2 {
		t.Errorf("second hello: %+v, want the change", got)
	}
	if p.Len() != 0 {
		t.Errorf("%d users left in Pending after every hello ended", p.Len())
	}
	if got := p.Users([]int64{7}); !slices.Equal(got, []int64{7}) {
		t.Errorf("Users = %v, want only what was given", got)
	}
	if got := p.End(Entry{User: 4, Revision: 1}); got.Revision != 1 {
		t.Errorf("End without Begin: %+v", got)
	}
}
