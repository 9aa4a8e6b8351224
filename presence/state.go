package presence

import (
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
}

type session struct {
	id      string
	user    int64
	friends []int64 // as the session last sent it, sorted
	hash    uint64  // its part of the gateway's digest
	gen     uint64  // the sync generation that last repeated it
	// During a rebuild: the gateway's view of the session, kept until the
	// corrections are sent.
	pending bool
	ready   bool
	known   []int64
}

type gateway struct {
	id, boot  string
	sessions  map[string]*session
	digest    uint64
	lastSeen  time.Time
	gen       uint64 // the sync under way, 0 when none
	syncing   bool   // a sync was asked for or is under way
	syncSince time.Time
}

// emitter receives what the state machine decides to send, in order.
type emitter interface {
	// notify tells every session of to that about went online or offline.
	notify(to *user, about int64, online bool)
	// session sends one session its corrections, and ready if it lacks it.
	session(gw string, st shared.SessionState)
	// askSync asks a gateway to resend its sessions.
	askSync(gw string)
}

// state is presence's state machine. It is not safe for concurrent use: the
// service drives it from one goroutine, and tests drive it directly.
type state struct {
	policy   Policy
	subjects shared.Subjects
	lease    time.Duration
	out      emitter

	users    map[int64]*user
	watchers map[int64]map[int64]*user // X → online users listing X
	gateways map[string]*gateway

	// rebuilding is true while presence collects sessions after a start:
	// nothing is sent until it ends, so nobody hears a false offline.
	rebuilding bool
}

func newState(policy Policy, subjects shared.Subjects, lease time.Duration, out emitter) *state {
	return &state{
		policy:   policy,
		subjects: subjects,
		lease:    lease,
		out:      out,
		users:    make(map[int64]*user),
		watchers: make(map[int64]map[int64]*user),
		gateways: make(map[string]*gateway),
	}
}

// apply applies one gateway's batch of events.
func (s *state) apply(b *shared.Batch, now time.Time) {
	g := s.gateways[b.Gateway]
	if g != nil && g.boot != b.Boot {
		// The gateway restarted: what its previous run held is gone.
		s.dropGateway(g)
		g = nil
	}
	if g == nil {
		g = &gateway{id: b.Gateway, boot: b.Boot, sessions: make(map[string]*session)}
		s.gateways[b.Gateway] = g
	}
	g.lastSeen = now
	for i := range b.Events {
		ev := &b.Events[i]
		switch ev.Type {
		case shared.EventOpen, shared.EventUpdate:
			s.open(g, ev)
		case shared.EventClose:
			if sess := g.sessions[ev.Session]; sess != nil {
				s.removeSession(g, sess)
			}
		case shared.EventHeartbeat:
			s.heartbeat(g, ev, now)
		case shared.EventSyncBegin:
			g.gen, g.syncing, g.syncSince = ev.Gen, true, now
		case shared.EventSyncEnd:
			s.syncEnd(g, ev.Gen)
		case shared.EventBye:
			s.dropGateway(g)
			return
		}
	}
}

// open registers a session, or updates it if it is known. An update for an
// unknown session registers it too: its open was lost.
func (s *state) open(g *gateway, ev *shared.Event) {
	if ev.User <= 0 || ev.Session == "" {
		return
	}
	// The batch's slices are reused for the next batch: keep a copy.
	friends := shared.NormalizeFriends(slices.Clone(ev.Friends), ev.User)
	sess := g.sessions[ev.Session]
	if sess != nil && sess.user != ev.User {
		s.removeSession(g, sess)
		sess = nil
	}
	if sess != nil {
		if ev.Sync && ev.Gen == g.gen {
			sess.gen = ev.Gen
		}
		sess.friends = friends
		g.digest ^= sess.hash
		sess.hash = shared.SessionHash(sess.id, friends)
		g.digest ^= sess.hash
		s.setFriends(s.users[sess.user], unionFriends(s.users[sess.user]))
		if ev.Sync {
			s.correct(g, sess, ev.Known, ev.Ready)
		}
		return
	}
	sess = &session{id: ev.Session, user: ev.User, friends: friends, hash: shared.SessionHash(ev.Session, friends)}
	if ev.Sync && ev.Gen == g.gen {
		sess.gen = ev.Gen
	}
	g.sessions[sess.id] = sess
	g.digest ^= sess.hash

	if u := s.users[ev.User]; u != nil {
		u.sessions = append(u.sessions, sess)
		s.setFriends(u, unionFriends(u))
	} else {
		u = &user{id: ev.User, subject: s.subjects.User(ev.User), friends: friends, sessions: []*session{sess}}
		s.users[u.id] = u
		for _, f := range friends {
			s.watch(f, u)
		}
		s.transition(u, true)
	}
	if s.rebuilding {
		sess.pending, sess.ready, sess.known = true, ev.Ready, slices.Clone(ev.Known)
		return
	}
	s.correct(g, sess, ev.Known, ev.Ready && ev.Sync)
}

func (s *state) removeSession(g *gateway, sess *session) {
	delete(g.sessions, sess.id)
	g.digest ^= sess.hash
	u := s.users[sess.user]
	if u == nil {
		return
	}
	if i := slices.Index(u.sessions, sess); i >= 0 {
		u.sessions = slices.Delete(u.sessions, i, i+1)
	}
	if len(u.sessions) > 0 {
		s.setFriends(u, unionFriends(u))
		return
	}
	s.transition(u, false)
	for _, f := range u.friends {
		s.unwatch(f, u)
	}
	delete(s.users, u.id)
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

func (s *state) heartbeat(g *gateway, ev *shared.Event, now time.Time) {
	if g.syncing && now.Sub(g.syncSince) < s.lease {
		return // a resend is under way; judge the digest after it
	}
	if ev.Sessions != len(g.sessions) || ev.Digest != g.digest {
		g.syncing, g.syncSince = true, now
		s.out.askSync(g.id)
	}
}

func (s *state) syncEnd(g *gateway, gen uint64) {
	if gen != g.gen || gen == 0 {
		return
	}
	for _, sess := range g.sessions {
		if sess.gen != gen {
			s.removeSession(g, sess)
		}
	}
	g.gen, g.syncing = 0, false
}

// dropGateway ends every session of a gateway and forgets it.
func (s *state) dropGateway(g *gateway) {
	for _, sess := range g.sessions {
		s.removeSession(g, sess)
	}
	delete(s.gateways, g.id)
}

// expire drops the gateways whose lease ran out, and returns their ids.
func (s *state) expire(now time.Time) []string {
	var gone []string
	for _, g := range s.gateways {
		if now.Sub(g.lastSeen) > s.lease {
			gone = append(gone, g.id)
			s.dropGateway(g)
		}
	}
	return gone
}

// renewAll renews every lease, for when presence itself was cut off and could
// not have heard the heartbeats.
func (s *state) renewAll(now time.Time) {
	for _, g := range s.gateways {
		g.lastSeen = now
	}
}

// resyncing reports whether a gateway's resync is asked for or under way.
func (s *state) resyncing() bool {
	for _, g := range s.gateways {
		if g.syncing {
			return true
		}
	}
	return false
}

// finishRebuild ends the rebuild window: each session collected meanwhile gets
// the corrections between what its gateway says it was told and the truth.
func (s *state) finishRebuild() {
	s.rebuilding = false
	for _, g := range s.gateways {
		for _, sess := range g.sessions {
			if sess.pending {
				s.correct(g, sess, sess.known, sess.ready)
				sess.pending, sess.known = false, nil
			}
		}
	}
}

// visible reports whether w may see u's presence, given that w lists u.
func (s *state) visible(w, u *user) bool {
	return s.policy == PolicyWatchers || shared.Contains(u.friends, w.id)
}

// transition tells u's watchers that u came online or went offline.
func (s *state) transition(u *user, online bool) {
	if s.rebuilding {
		return
	}
	for _, w := range s.watchers[u.id] {
		if s.visible(w, u) {
			s.out.notify(w, u.id, online)
		}
	}
}

// setFriends replaces u's friend list, telling u the state of each newly
// added friend (offline too: u may hold a stale state from an earlier time
// it listed them) and, under the mutual policy, telling friends who gain or
// lose sight of u.
func (s *state) setFriends(u *user, friends []int64) {
	if u == nil || slices.Equal(u.friends, friends) {
		return
	}
	old := u.friends
	u.friends = slices.Clone(friends)
	i, j := 0, 0
	for i < len(old) || j < len(friends) {
		switch {
		case j == len(friends) || (i < len(old) && old[i] < friends[j]):
			s.unwatch(old[i], u)
			if f := s.users[old[i]]; f != nil && s.policy == PolicyMutual && !s.rebuilding && shared.Contains(f.friends, u.id) {
				s.out.notify(f, u.id, false)
			}
			i++
		case i == len(old) || friends[j] < old[i]:
			s.watch(friends[j], u)
			if !s.rebuilding {
				f := s.users[friends[j]]
				seen := f != nil && s.visible(u, f)
				s.out.notify(u, friends[j], seen)
				if seen && s.policy == PolicyMutual {
					s.out.notify(f, u.id, true)
				}
			}
			j++
		default:
			i++
			j++
		}
	}
}

func (s *state) watch(x int64, w *user) {
	m := s.watchers[x]
	if m == nil {
		m = make(map[int64]*user)
		s.watchers[x] = m
	}
	m[w.id] = w
}

func (s *state) unwatch(x int64, w *user) {
	if m := s.watchers[x]; m != nil {
		delete(m, w.id)
		if len(m) == 0 {
			delete(s.watchers, x)
		}
	}
}

// onlineFriends returns the friends of u that u may see online now, sorted.
func (s *state) onlineFriends(u *user) []int64 {
	var out []int64
	for _, f := range u.friends {
		if fu := s.users[f]; fu != nil && s.visible(u, fu) {
			out = append(out, f)
		}
	}
	return out
}

// correct sends a session the difference between what its gateway says it
// was told (known: friends online) and the truth. A session that is not ready
// always gets a message, since that message makes its gateway send ready.
func (s *state) correct(g *gateway, sess *session, known []int64, ready bool) {
	u := s.users[sess.user]
	if u == nil {
		return
	}
	truth := s.onlineFriends(u)
	known = shared.NormalizeFriends(slices.Clone(known), u.id)
	st := shared.SessionState{Session: sess.id}
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
	if ready && len(st.Online) == 0 && len(st.Offline) == 0 {
		return
	}
	s.out.session(g.id, st)
}

// stats is a summary of the state, for health and status endpoints.
type stats struct {
	Users    int  `json:"users"`
	Sessions int  `json:"sessions"`
	Gateways int  `json:"gateways"`
	Rebuild  bool `json:"rebuilding"`
}

func (s *state) stats() stats {
	st := stats{Users: len(s.users), Gateways: len(s.gateways), Rebuild: s.rebuilding}
	for _, g := range s.gateways {
		st.Sessions += len(g.sessions)
	}
	return st
}
