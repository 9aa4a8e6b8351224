package client

import (
	"slices"
	"time"

	"github.com/alo-presence/alo/shared"
)

// Roster is what a user sees: each friend, online or not, and since when.
// Feed it every Event with Apply and every friend-list change with
// SetFriends. It is not safe for concurrent use; the terminal client owns
// one in its display goroutine.
//
// It follows the contract's snapshot rule (DESIGN §2): after a (re)connect
// the server reports only the friends that are online, then ready, so at
// ready every friend not reported since the connect is offline. A friend
// that stayed online across a reconnect keeps its Since time and produces
// no change.
type Roster struct {
	friends []int64 // sorted, no duplicates
	state   map[int64]FriendStatus
	live    bool           // a session is up and ready
	seen    map[int64]bool // friends reported online since the last connect
	syncing bool           // between EventConnected and EventReady
}

// FriendStatus is one friend's state as the roster knows it.
type FriendStatus struct {
	UserID int64
	Online bool
	// Since is when the state last changed; zero if it never did (never
	// reported, so offline per the contract).
	Since time.Time
	// Status and Text are an online friend's status; LastSeen an offline
	// friend's last seen, as the server last said (zero if unknown).
	Status   shared.Status
	Text     string
	LastSeen time.Time
}

// Change is a friend's transition, or a change of their status or text, as
// returned by Apply.
type Change struct {
	UserID   int64
	Online   bool
	Status   shared.Status
	Text     string
	LastSeen time.Time
	Time     time.Time
}

// NewRoster returns a roster for friends, all offline.
func NewRoster(friends []int64) *Roster {
	r := &Roster{state: map[int64]FriendStatus{}, seen: map[int64]bool{}}
	r.SetFriends(friends)
	return r
}

// SetFriends replaces the friend list. Friends who stay keep their state;
// new ones start offline until the server says otherwise.
func (r *Roster) SetFriends(friends []int64) {
	r.friends = slices.Compact(slices.Sorted(slices.Values(friends)))
	for id := range r.state {
		if !r.isFriend(id) {
			delete(r.state, id)
		}
	}
	for _, id := range r.friends {
		if _, ok := r.state[id]; !ok {
			r.state[id] = FriendStatus{UserID: id}
		}
	}
}

func (r *Roster) isFriend(id int64) bool {
	_, found := slices.BinarySearch(r.friends, id)
	return found
}

// Apply updates the roster with ev and returns the friends whose state
// changed, in id order.
func (r *Roster) Apply(ev Event) []Change {
	switch ev.Kind {
	case EventConnected:
		r.syncing, r.live = true, false
		clear(r.seen)
	case EventDisconnected:
		r.syncing, r.live = false, false
	case EventPresence:
		if !r.isFriend(ev.UserID) {
			// A message in flight from before a friend-list change.
			return nil
		}
		if r.syncing && ev.Online {
			r.seen[ev.UserID] = true
		}
		if c, ok := r.setPresence(ev); ok {
			return []Change{c}
		}
	case EventReady:
		var changes []Change
		if r.syncing {
			for _, id := range r.friends {
				if r.seen[id] {
					continue
				}
				if c, ok := r.set(id, false, ev.Time); ok {
					changes = append(changes, c)
				}
			}
		}
		r.syncing, r.live = false, true
		return changes
	}
	return nil
}

// setPresence applies a state message: a transition, a status change of an
// online friend, or news of an offline friend's last seen.
func (r *Roster) setPresence(ev Event) (Change, bool) {
	st := r.state[ev.UserID]
	if st.Online != ev.Online {
		c, _ := r.set(ev.UserID, ev.Online, ev.Time)
		st = r.state[ev.UserID]
		st.Status, st.Text, st.LastSeen = ev.Status, ev.Text, ev.LastSeen
		r.state[ev.UserID] = st
		c.Status, c.Text, c.LastSeen = ev.Status, ev.Text, ev.LastSeen
		return c, true
	}
	if ev.Online && (st.Status != ev.Status || st.Text != ev.Text) {
		st.Status, st.Text = ev.Status, ev.Text
		r.state[ev.UserID] = st
		return Change{UserID: ev.UserID, Online: true, Status: ev.Status, Text: ev.Text, Time: ev.Time}, true
	}
	if !ev.Online && !ev.LastSeen.IsZero() {
		st.LastSeen = ev.LastSeen // not a change to show: the friend was offline
		r.state[ev.UserID] = st
	}
	return Change{}, false
}

func (r *Roster) set(id int64, online bool, at time.Time) (Change, bool) {
	st := r.state[id]
	if st.Online == online {
		return Change{}, false
	}
	// Going offline keeps the last seen a state message may bring.
	r.state[id] = FriendStatus{UserID: id, Online: online, Since: at, LastSeen: st.LastSeen}
	return Change{UserID: id, Online: online, Time: at, LastSeen: st.LastSeen}, true
}

// Friends returns every friend's status, in id order.
func (r *Roster) Friends() []FriendStatus {
	out := make([]FriendStatus, 0, len(r.friends))
	for _, id := range r.friends {
		out = append(out, r.state[id])
	}
	return out
}

// Live reports whether a session is up and ready, that is whether the
// states are current rather than the last ones known before a drop.
func (r *Roster) Live() bool { return r.live }
