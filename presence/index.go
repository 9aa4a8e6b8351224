package presence

import (
	"container/heap"
	"slices"
	"time"

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

	// status and text are the user's, from the open session that set one
	// last (see effectiveStatus).
	status shared.Status
	text   string
	// shown is whether watchers see the user online: online and not
	// invisible. Every transition of it goes through transition, so that
	// going invisible is, to a watcher, the same as leaving.
	shown bool
	// Flap damping: watchers were last told sentStatus and sentText; no
	// status change reaches them before dampUntil, and pending says a
	// change waits for it in the index's queue.
	sentStatus shared.Status
	sentText   string
	dampUntil  time.Time
	pending    bool
}

// notifier receives the index's notifications, in order.
type notifier interface {
	// notify tells every session of to about's state.
	notify(to *user, about int64, p shared.Presence)
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
	// obs hears every transition (metrics.go, feed.go); why is the reason
	// of the removals under way, set by the ledger.
	obs *observer
	why string

	// now is the time of what is being applied, set by the ledger: when a
	// user is last seen, and when damping ends.
	now time.Time
	// lastSeen keeps each user's last online → offline transition as
	// watchers saw it (going invisible included).
	lastSeen LastSeenStore
	// damp is how long a user's status changes are held after one reached
	// the watchers (0: none); damped holds the users whose change waits.
	damp   time.Duration
	damped dampQueue
	// deferred, while not nil, collects the users whose status to
	// recompute at the outermost endDefer instead of at once (depth counts
	// the beginDefer calls not yet ended): see beginDefer.
	deferred map[int64]*user
	depth    int
}

// beginDefer starts changing many sessions at once (a batch, a gateway's
// drop). Their users' statuses are recomputed once at endDefer: changed one
// by one, the sessions would expose the statuses in between, and a user
// whose latest status is online but an older one invisible would flap
// offline and back. Calls nest.
func (x *index) beginDefer() {
	if x.depth == 0 {
		x.deferred = make(map[int64]*user)
	}
	x.depth++
}

// endDefer ends a beginDefer; the outermost recomputes the statuses.
func (x *index) endDefer() {
	if x.depth--; x.depth > 0 {
		return
	}
	users := x.deferred
	x.deferred = nil
	for id, u := range users {
		if x.users[id] == u {
			x.statusChanged(u)
		}
	}
}

func newIndex(policy Policy, subjects shared.Subjects, out notifier) *index {
	return &index{
		policy:   policy,
		subjects: subjects,
		out:      out,
		users:    make(map[int64]*user),
		watchers: make(map[int64]map[int64]*user),
		lastSeen: NewMemoryLastSeen(0),
		damp:     DefaultStatusInterval,
	}
}

// add makes sess one of its user's sessions; a user's first session brings
// them online.
func (x *index) add(sess *session) {
	if u := x.users[sess.user]; u != nil {
		u.sessions = append(u.sessions, sess)
		x.setFriends(u, unionFriends(u))
		x.statusChanged(u)
		return
	}
	u := &user{id: sess.user, subject: x.subjects.User(sess.user), friends: sess.friends, sessions: []*session{sess}}
	u.status, u.text = effectiveStatus(u)
	x.users[u.id] = u
	for _, f := range u.friends {
		x.watch(f, u)
	}
	if u.status != shared.StatusInvisible {
		x.show(u)
	}
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
		x.statusChanged(u)
		return
	}
	if u.shown {
		x.hide(u)
	}
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

// presence returns what watchers who may see id are told of them now. The
// status is the one last sent to the watchers, not a damped change still
// held: a snapshot or friend-list report must say what the others were
// told, so that the held change, when it goes out, reaches everyone alike.
func (x *index) presence(id int64) shared.Presence {
	if u := x.users[id]; u != nil && u.shown {
		return shared.Presence{Online: true, Status: u.sentStatus, Text: u.sentText}
	}
	var p shared.Presence
	if t, ok := x.lastSeen.LastSeen(id); ok {
		p.LastSeen = t.Unix()
	}
	return p
}

// transition tells u's watchers u's state: online, offline, or a status.
func (x *index) transition(u *user) {
	if x.quiet {
		return
	}
	p := x.presence(u.id)
	for _, w := range x.watchers[u.id] {
		if x.visible(w, u) {
			x.out.notify(w, u.id, p)
		}
	}
}

// show brings u online for the watchers, with their current status.
func (x *index) show(u *user) {
	u.shown = true
	u.sentStatus, u.sentText = u.status, u.text
	u.dampUntil, u.pending = x.now.Add(x.damp), false
	x.obs.show(x, u)
	x.transition(u)
}

// hide takes u offline for the watchers: u left, or went invisible, which
// must look the same, so both come here. Last seen is now, and stays as it
// is while u is invisible.
func (x *index) hide(u *user) {
	u.shown, u.pending = false, false
	x.lastSeen.SetLastSeen(u.id, x.now)
	x.obs.hide(x, u)
	x.transition(u)
}

// effectiveStatus returns u's status: the one set last, by its time and then
// by session id, among u's open sessions; online when none set one. Derived
// from the sessions alone, like the friend list, so a rebuild from the
// gateways' resends, in any order, finds the same.
func effectiveStatus(u *user) (shared.Status, string) {
	var best *session
	for _, s := range u.sessions {
		if s.statusAt != 0 && (best == nil || s.statusAt > best.statusAt || s.statusAt == best.statusAt && s.id > best.id) {
			best = s
		}
	}
	if best == nil {
		return shared.StatusOnline, ""
	}
	return best.status, best.text
}

// statusChanged recomputes u's status after one of u's sessions set one,
// came or went, and tells the watchers what changed for them: going
// invisible is leaving, leaving invisible is coming online, and any other
// change a state message, damped.
func (x *index) statusChanged(u *user) {
	if x.deferred != nil {
		x.deferred[u.id] = u
		return
	}
	status, text := effectiveStatus(u)
	if status == u.status && text == u.text {
		return
	}
	u.status, u.text = status, text
	switch {
	case u.shown && status == shared.StatusInvisible:
		x.hide(u)
	case !u.shown && status != shared.StatusInvisible:
		x.show(u)
	case u.shown:
		x.dampedStatus(u)
	}
}

// dampedStatus sends u's status change now, or, within the damping interval
// after the last one, queues u to send the latest state when it ends.
func (x *index) dampedStatus(u *user) {
	if x.quiet {
		// Nothing reaches anyone while rebuilding; the corrections after
		// it carry the statuses.
		u.sentStatus, u.sentText = u.status, u.text
		return
	}
	if x.now.Before(u.dampUntil) {
		if !u.pending {
			u.pending = true
			heap.Push(&x.damped, dampEntry{due: u.dampUntil, user: u.id})
		}
		return
	}
	x.sendStatus(u)
}

func (x *index) sendStatus(u *user) {
	u.pending = false
	u.dampUntil = x.now.Add(x.damp)
	if u.status == u.sentStatus && u.text == u.sentText {
		return // changed and changed back: the watchers already have it
	}
	u.sentStatus, u.sentText = u.status, u.text
	x.transition(u)
}

// flushDamped sends the status changes whose damping ended by now.
func (x *index) flushDamped() {
	for len(x.damped) > 0 && !x.damped[0].due.After(x.now) {
		e := heap.Pop(&x.damped).(dampEntry)
		if u := x.users[e.user]; u != nil && u.pending && u.shown && !x.quiet {
			x.sendStatus(u)
		}
	}
}

// nextDamped returns when flushDamped next has work, or false when none.
func (x *index) nextDamped() (time.Time, bool) {
	if len(x.damped) == 0 {
		return time.Time{}, false
	}
	return x.damped[0].due, true
}

// dampEntry is a user whose status change waits until due. Entries of users
// who left or went invisible meanwhile are skipped when they come due: each
// user has at most one entry while pending.
type dampEntry struct {
	due  time.Time
	user int64
}

// dampQueue is a min-heap of dampEntry by due, one timer's worth of work for
// every damped user together: the service's goroutine waits for its head.
type dampQueue []dampEntry

func (q dampQueue) Len() int           { return len(q) }
func (q dampQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dampQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dampQueue) Push(v any)        { *q = append(*q, v.(dampEntry)) }
func (q *dampQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
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
			// f loses sight of u, which only shows if f could see u: an
			// invisible u already looks offline to f.
			if f := x.users[old[i]]; f != nil && x.policy == PolicyMutual && !x.quiet && u.shown && shared.Contains(f.friends, u.id) {
				x.out.notify(f, u.id, x.offline(u.id))
			}
			i++
		case i == len(old) || friends[j] < old[i]:
			x.watch(friends[j], u)
			if !x.quiet {
				f := x.users[friends[j]]
				if f != nil && f.shown && x.visible(u, f) {
					x.out.notify(u, friends[j], x.presence(f.id))
				} else {
					x.out.notify(u, friends[j], x.offline(friends[j]))
				}
				// Under mutual, f (online, invisible or not) gains sight
				// of u, if u is visible and f lists u.
				if f != nil && x.policy == PolicyMutual && u.shown && shared.Contains(f.friends, u.id) {
					x.out.notify(f, u.id, x.presence(u.id))
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

// offline returns the offline state of id as reported outside a transition
// (a friend-list update, a correction): with its last seen if known, except
// under the mutual policy, where whether the asker may see id cannot be told
// for a user who is offline, so no last seen is reported to anyone, for the
// offline and the invisible alike.
func (x *index) offline(id int64) shared.Presence {
	var p shared.Presence
	if x.policy == PolicyMutual {
		return p
	}
	if t, ok := x.lastSeen.LastSeen(id); ok {
		p.LastSeen = t.Unix()
	}
	return p
}

// onlineFriends returns the friends of u that u may see online now, sorted.
func (x *index) onlineFriends(u *user) []int64 {
	var out []int64
	for _, f := range u.friends {
		if fu := x.users[f]; fu != nil && fu.shown && x.visible(u, fu) {
			out = append(out, f)
		}
	}
	return out
}

// snapshot returns what a session of userID must be told, given that it was
// last told known (friends online) and knownStatus (the statuses, when not
// plain, it was told of those): the friends online now that it does not
// know of, the friends it believes online that are not, and the friends
// whose status it holds wrong (one may have changed while presence could not
// tell anyone, as during a rebuild). It sends nothing: when to send is the
// ledger's decision.
func (x *index) snapshot(sid string, userID int64, known []int64, knownStatus []shared.FriendPresence) (shared.SessionState, bool) {
	u := x.users[userID]
	if u == nil {
		return shared.SessionState{}, false
	}
	truth := x.onlineFriends(u)
	known = shared.NormalizeFriends(slices.Clone(known), u.id)
	st := shared.SessionState{Session: sid}
	// As in presence: the status last sent, not one damping holds.
	online := func(id int64) {
		st.Online = append(st.Online, id)
		if f := x.users[id]; f.sentStatus != shared.StatusOnline || f.sentText != "" {
			st.Rich = append(st.Rich, shared.FriendPresence{User: id, Status: f.sentStatus, Text: f.sentText})
		}
	}
	i, j := 0, 0
	for i < len(truth) || j < len(known) {
		switch {
		case j == len(known) || (i < len(truth) && truth[i] < known[j]):
			online(truth[i])
			i++
		case i == len(truth) || known[j] < truth[i]:
			if shared.Contains(u.friends, known[j]) {
				st.Offline = append(st.Offline, known[j])
				if p := x.offline(known[j]); p.LastSeen != 0 {
					st.Rich = append(st.Rich, shared.FriendPresence{User: known[j], LastSeen: p.LastSeen})
				}
			}
			j++
		default:
			told := (&shared.SessionState{Rich: knownStatus}).Presence(truth[i], true)
			if f := x.users[truth[i]]; told.Status != f.sentStatus || told.Text != f.sentText {
				online(truth[i])
			}
			i++
			j++
		}
	}
	// Rich is sorted by id: the ids come in order from one merge.
	return st, true
}
