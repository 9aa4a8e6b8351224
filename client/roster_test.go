package client

import (
	"slices"
	"testing"
	"time"

	"github.com/alo-presence/alo/shared"
)

func TestRoster(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	r := NewRoster([]int64{3, 2, 4})

	type step struct {
		ev   Event
		want []Change
	}
	steps := []step{
		{Event{Kind: EventConnected, Time: at(0)}, nil},
		{Event{Kind: EventPresence, UserID: 2, Online: true, Time: at(1)}, []Change{{UserID: 2, Online: true, Time: at(1)}}},
		{Event{Kind: EventPresence, UserID: 3, Online: true, Time: at(1)}, []Change{{UserID: 3, Online: true, Time: at(1)}}},
		{Event{Kind: EventReady, Time: at(1)}, nil},
		// A repeat is harmless; a stranger is ignored.
		{Event{Kind: EventPresence, UserID: 2, Online: true, Time: at(2)}, nil},
		{Event{Kind: EventPresence, UserID: 99, Online: true, Time: at(2)}, nil},
		{Event{Kind: EventPresence, UserID: 4, Online: true, Time: at(3)}, []Change{{UserID: 4, Online: true, Time: at(3)}}},
		// Drop and reconnect: 2 stayed online (no change, Since kept), 3
		// and 4 went offline meanwhile and the snapshot does not mention
		// them, so ready turns them offline.
		{Event{Kind: EventDisconnected, Time: at(4)}, nil},
		{Event{Kind: EventConnected, Time: at(5)}, nil},
		{Event{Kind: EventPresence, UserID: 2, Online: true, Time: at(5)}, nil},
		{Event{Kind: EventReady, Time: at(6)}, []Change{{UserID: 3, Online: false, Time: at(6)}, {UserID: 4, Online: false, Time: at(6)}}},
	}
	for i, s := range steps {
		if got := r.Apply(s.ev); !slices.Equal(got, s.want) {
			t.Fatalf("step %d (%v): changes %v, want %v", i, s.ev.Kind, got, s.want)
		}
	}
	if !r.Live() {
		t.Fatal("not live after ready")
	}
	want := []FriendStatus{{UserID: 2, Online: true, Since: at(1)}, {UserID: 3, Online: false, Since: at(6)}, {UserID: 4, Online: false, Since: at(6)}}
	if got := r.Friends(); !slices.Equal(got, want) {
		t.Fatalf("Friends() = %v, want %v", got, want)
	}

	r.SetFriends([]int64{5, 2})
	want = []FriendStatus{{UserID: 2, Online: true, Since: at(1)}, {UserID: 5, Online: false, Since: time.Time{}}}
	if got := r.Friends(); !slices.Equal(got, want) {
		t.Fatalf("after SetFriends: %v, want %v", got, want)
	}
	r.Apply(Event{Kind: EventDisconnected})
	if r.Live() {
		t.Fatal("live after disconnect")
	}
}

// A status change of an online friend is a change; its status, text and
// last seen are in Friends.
func TestRosterStatus(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	r := NewRoster([]int64{2})
	r.Apply(Event{Kind: EventConnected, Time: at(0)})
	r.Apply(Event{Kind: EventPresence, UserID: 2, Online: true, Time: at(1)})
	r.Apply(Event{Kind: EventReady, Time: at(1)})
	got := r.Apply(Event{Kind: EventPresence, UserID: 2, Online: true, Status: shared.StatusAway, Text: "lunch", Time: at(2)})
	if want := []Change{{UserID: 2, Online: true, Status: shared.StatusAway, Text: "lunch", Time: at(2)}}; !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if got := r.Apply(Event{Kind: EventPresence, UserID: 2, Online: true, Status: shared.StatusAway, Text: "lunch", Time: at(3)}); got != nil {
		t.Fatalf("a repeat changed %v", got)
	}
	seen := at(4).UTC()
	r.Apply(Event{Kind: EventPresence, UserID: 2, Online: false, LastSeen: seen, Time: at(5)})
	if f := r.Friends()[0]; f.Online || !f.LastSeen.Equal(seen) || f.Since != at(5) {
		t.Fatalf("friend %+v: want offline since 5, last seen 4", f)
	}
}
