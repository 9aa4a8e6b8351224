package presence

import (
	"slices"

	"github.com/alo-presence/alo/shared"
)

// Policy says who may see a user's presence.
type Policy int

const (
	// PolicyWatchers lets X's presence reach every online user who lists X.
	PolicyWatchers Policy = iota
	// PolicyMutual lets it reach only those whom X lists too.
	PolicyMutual
)

// String returns the policy's flag spelling.
func (p Policy) String() string {
	if p == PolicyMutual {
		return "mutual"
	}
	return "watchers"
}

// ParsePolicy reads a policy's flag spelling.
func ParsePolicy(s string) (Policy, bool) {
	switch s {
	case "watchers", "":
		return PolicyWatchers, true
	case "mutual":
		return PolicyMutual, true
	}
	return 0, false
}

// user is an online user.
type user struct {
	id      int64
	subject string // where the user's sessions are reached
	// friends is the union of the friend lists of the user's sessions,
	// sorted. A union, not the latest list, because it can be rebuilt from
	// the gateways in any order.
	friends  []int64
	sessions []*session
}

// notifier receives the index's notifications, in order.
type notifier interface {
	// notify tells every session of to that about went online or offline.
	notify(to *user, about int64, online bool)
}

// index is who is online and who watches whom: the online users with their
// friend lists, and for each user the online users listing them. It knows
// sessions only as members of a user; which gateway holds them, and what
// each was told, is the ledger's business. Not safe for concurrent use.
type index struct {
	policy   Policy
	subjects shared.Subjects
	out      notifier

	users    map[int64]*user
	watchers map[int64]map[int64]*user // X → online users listing X

	// quiet mutes every notification. Only the ledger sets it, for its
	// rebuild (see ledger.beginRebuild): the index's view is partial then.
	quiet bool
}

func newIndex(policy Policy, subjects shared.Subjects, out notifier) *index {
	return &index{
		policy:   policy,
		subjects: subjects,
		out:      out,
		users:    make(map[int64]*user),
		watchers: make(map[int64]map[int64]*user),
	}
}

// add makes sess one of its user's sessions; a user's first session brings
// them online.
func (x *index) add(sess *session) {
	if u := x.users[sess.user]; u != nil {
		u.sessions = append(u.sessions, sess)
		x.setFriends(u, unionFriends(u))
		return
	}
	u := &user{id: sess.user, subject: x.subjects.User(sess.user), friends: sess.friends, sessions: []*session{sess}}
	x.users[u.id] = u
	for _, f := range u.friends {
		x.watch(f, u)
	}
	x.transition(u, true)
}

// remove ends sess; a user's last session takes them offline.
func (x *index) remove(sess *session) {
	u := x.users[sess.user]
	if u == nil {
		return
	}
	if i := slices.Index(u.sessions, sess); i >= 0 {
		u.sessions = slices.Delete(u.sessions, i, i+1)
	}
	if len(u.sessions) > 0 {
		x.setFriends(u, unionFriends(u))
		return
	}
	x.transition(u, false)
	for _, f := range u.friends {
		x.unwatch(f, u)
	}
	delete(x.users, u.id)
}

// changed recomputes the friends of sess's user after sess's list changed.
func (x *index) changed(sess *session) {
	if u := x.users[sess.user]; u != nil {
		x.setFriends(u, unionFriends(u))
	}
}

// unionFriends returns the union of the friend lists of u's sessions.
func unionFriends(u *user) []int64 {
	if len(u.sessions) == 1 {
		return u.sessions[0].friends
	}
	var all []int64
	for _, sess := range u.sessions {
		all = append(all, sess.friends...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// visible reports whether w may see u's presence, given that w lists u.
func (x *index) visible(w, u *user) bool {
	return x.policy == PolicyWatchers || shared.Contains(u.friends, w.id)
}

// transition tells u's watchers that u came online or went offline.
func (x *index) transition(u *user, online bool) {
	if x.quiet {
		return
	}
	for _, w := range x.watchers[u.id] {
		if x.visible(w, u) {
			x.out.notify(w, u.id, online)
		}
	}
}

// setFriends replaces u's friend list, telling u the state of each newly
// added friend (offline too: u may hold a stale state from an earlier time
// it listed them) and, under the mutual policy, telling friends who gain or
// lose sight of u.
func (x *index) setFriends(u *user, friends []int64) {
	if slices.Equal(u.friends, friends) {
		return
	}
	old := u.friends
	u.friends = slices.Clone(friends)
	i, j := 0, 0
	for i < len(old) || j < len(friends) {
		switch {
		case j == len(friends) || (i < len(old) && old[i] < friends[j]):
			x.unwatch(old[i], u)
			if f := x.users[old[i]]; f != nil && x.policy == PolicyMutual && !x.quiet && shared.Contains(f.friends, u.id) {
				x.out.notify(f, u.id, false)
			}
			i++
		case i == len(old) || friends[j] < old[i]:
			x.watch(friends[j], u)
			if !x.quiet {
				f := x.users[friends[j]]
				seen := f != nil && x.visible(u, f)
				x.out.notify(u, friends[j], seen)
				if seen && x.policy == PolicyMutual {
					x.out.notify(f, u.id, true)
				}
			}
			j++
		default:
			i++
			j++
		}
	}
}

func (x *index) watch(id int64, w *user) {
	m := x.watchers[id]
	if m == nil {
		m = make(map[int64]*user)
		x.watchers[id] = m
	}
	m[w.id] = w
}

func (x *index) unwatch(id int64, w *user) {
	if m := x.watchers[id]; m != nil {
		delete(m, w.id)
		if len(m) == 0 {
			delete(x.watchers, id)
		}
	}
}

// onlineFriends returns the friends of u that u may see online now, sorted.
func (x *index) onlineFriends(u *user) []int64 {
	var out []int64
	for _, f := range u.friends {
		if fu := x.users[f]; fu != nil && x.visible(u, fu) {
			out = append(out, f)
		}
	}
	return out
}

// snapshot returns what a session of userID must be told, given that it was
// last told known (friends online): the friends online now that it does not
// know of, and the friends it believes online that are not. It sends
// nothing: when to send is the ledger's decision.
func (x *index) snapshot(sid string, userID int64, known []int64) (shared.SessionState, bool) {
	u := x.users[userID]
	if u == nil {
		return shared.SessionState{}, false
	}
	truth := x.onlineFriends(u)
	known = shared.NormalizeFriends(slices.Clone(known), u.id)
	st := shared.SessionState{Session: sid}
	i, j := 0, 0
	for i < len(truth) || j < len(known) {
		switch {
		case j == len(known) || (i < len(truth) && truth[i] < known[j]):
			st.Online = append(st.Online, truth[i])
			i++
		case i == len(truth) || known[j] < truth[i]:
			if shared.Contains(u.friends, known[j]) {
				st.Offline = append(st.Offline, known[j])
			}
			j++
		default:
			i++
			j++
		}
	}
	return st, true
}
