package presence

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/alo-presence/alo/shared"
)

// The property test drives the state machine with random sequences of
// session opens, closes, friend-list updates, heartbeats, lost events,
// gateway deaths and expiries, resyncs and presence restarts. A model plays
// the gateways: it knows the true sessions and applies what presence emits
// to each session's view, as a gateway would. Whenever the system should have
// converged, every ready session's view of each friend must match the truth;
// while no event was lost, no session may be told the same state twice
// about a friend it kept listing.

type mSession struct {
	id      string
	user    int64
	friends []int64
	ready   bool
	view    map[int64]bool // friend → last state told
	fresh   map[int64]bool // told since last (re)listed: a repeat would be a duplicate
}

type mGateway struct {
	id, boot  string
	sessions  map[string]*mSession
	announced shared.SessionSet // as the gateway's publisher keeps it
	gen       uint64
	next      int
}

type model struct {
	unions   map[int64][]int64 // each user's friends, as of the last step
	t        *testing.T
	rng      *rand.Rand
	policy   Policy
	st       *ledger
	now      time.Time
	gateways map[string]*mGateway
	syncs    map[string]bool // resyncs asked for and not yet done
	lossy    bool            // an event was lost since the last full resync
	log      []string
}

func (m *model) notify(to *user, about int64, online bool) {
	for _, g := range m.gateways {
		for _, s := range g.sessions {
			if s.user == to.id && s.ready {
				m.tell(s, about, online)
			}
		}
	}
}

func (m *model) session(gw string, st shared.SessionState) {
	g := m.gateways[gw]
	if g == nil {
		return
	}
	s := g.sessions[st.Session]
	if s == nil {
		return
	}
	for _, f := range st.Online {
		m.tell(s, f, true)
	}
	for _, f := range st.Offline {
		m.tell(s, f, false)
	}
	s.ready = true
}

func (m *model) askSync(gw string) { m.syncs[gw] = true }

func (m *model) tell(s *mSession, about int64, online bool) {
	if !m.lossy && s.fresh[about] && s.view[about] == online && shared.Contains(s.friends, about) {
		m.t.Fatalf("session %s of %d told %d online=%v twice\n%s", s.id, s.user, about, online, m.history())
	}
	s.view[about] = online
	s.fresh[about] = true
}

func (m *model) history() string {
	start := max(0, len(m.log)-40)
	out := ""
	for _, l := range m.log[start:] {
		out += "  " + l + "\n"
	}
	return out
}

// send delivers a batch from g to presence, unless lose is set.
func (m *model) send(g *mGateway, lose bool, evs ...shared.Event) {
	for i := range evs {
		g.announced.Apply(&evs[i])
	}
	if lose {
		m.lossy = true
		m.log = append(m.log, fmt.Sprintf("LOST %s %v", g.id, evs))
		return
	}
	m.log = append(m.log, fmt.Sprintf("%s %v", g.id, evs))
	m.st.apply(&shared.Batch{Gateway: g.id, Boot: g.boot, Events: evs}, m.now)
}

func (m *model) randomFriends() []int64 {
	var f []int64
	for range m.rng.IntN(4) {
		f = append(f, 1+m.rng.Int64N(6))
	}
	return f
}

func (m *model) resync(g *mGateway) {
	g.gen++
	evs := []shared.Event{{Type: shared.EventSyncBegin, Gen: g.gen}}
	for _, id := range slices.Sorted(maps.Keys(g.sessions)) {
		s := g.sessions[id]
		var known []int64
		for f, on := range s.view {
			if on {
				known = append(known, f)
			}
		}
		slices.Sort(known)
		evs = append(evs, shared.Event{Type: shared.EventOpen, Sync: true, Gen: g.gen, Session: s.id,
			User: s.user, Friends: slices.Clone(s.friends), Known: known, Ready: s.ready})
	}
	evs = append(evs, shared.Event{Type: shared.EventSyncEnd, Gen: g.gen})
	m.send(g, false, evs...)
	delete(m.syncs, g.id)
}

// step performs one random action.
func (m *model) step() {
	ids := slices.Sorted(maps.Keys(m.gateways))
	g := m.gateways[ids[m.rng.IntN(len(ids))]]
	lose := m.rng.IntN(20) == 0
	var sessions []*mSession
	for _, id := range slices.Sorted(maps.Keys(g.sessions)) {
		sessions = append(sessions, g.sessions[id])
	}
	switch r := m.rng.IntN(100); {
	case r < 35 || len(sessions) == 0: // open
		g.next++
		s := &mSession{id: fmt.Sprintf("%s-%d", g.boot, g.next), user: 1 + m.rng.Int64N(6),
			view: map[int64]bool{}, fresh: map[int64]bool{}}
		s.friends = shared.NormalizeFriends(m.randomFriends(), s.user)
		g.sessions[s.id] = s
		m.send(g, lose, shared.Event{Type: shared.EventOpen, Session: s.id, User: s.user, Friends: slices.Clone(s.friends)})
	case r < 60: // close
		s := sessions[m.rng.IntN(len(sessions))]
		delete(g.sessions, s.id)
		m.send(g, lose, shared.Event{Type: shared.EventClose, Session: s.id, User: s.user})
	case r < 80: // friend-list update
		s := sessions[m.rng.IntN(len(sessions))]
		s.friends = shared.NormalizeFriends(m.randomFriends(), s.user)
		m.send(g, lose, shared.Event{Type: shared.EventUpdate, Session: s.id, User: s.user, Friends: slices.Clone(s.friends)})
	case r < 88: // heartbeats from everyone, and the resyncs they ask for
		m.heartbeats()
	case r < 92: // a gateway dies and its lease runs out; it may come back
		delete(m.gateways, g.id)
		m.now = m.now.Add(time.Second)
		for _, og := range m.gateways {
			og := og
			m.send(og, false, og.announced.Heartbeat())
		}
		m.now = m.now.Add(time.Second)
		m.st.expire(m.now)
		m.log = append(m.log, "expired "+g.id)
		if m.rng.IntN(2) == 0 {
			m.gateways[g.id] = &mGateway{id: g.id, boot: g.boot + "r", sessions: map[string]*mSession{}}
		}
	case r < 95: // presence restarts: everything is rebuilt from the gateways
		m.restart()
	default: // the clock moves a little
		m.now = m.now.Add(100 * time.Millisecond)
	}
}

func (m *model) heartbeats() {
	m.now = m.now.Add(200 * time.Millisecond)
	for _, id := range slices.Sorted(maps.Keys(m.gateways)) {
		g := m.gateways[id]
		m.send(g, false, g.announced.Heartbeat())
	}
	for _, id := range slices.Sorted(maps.Keys(m.syncs)) {
		if g := m.gateways[id]; g != nil {
			m.resync(g)
		}
	}
}

func (m *model) restart() {
	m.log = append(m.log, "presence restart")
	m.st = newLedger(m.policy, m.st.idx.subjects, m.st.lease, m)
	m.st.beginRebuild()
	m.syncs = map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(m.gateways)) {
		m.resync(m.gateways[id])
	}
	m.st.finishRebuild()
	m.lossy = false
}

// settle brings the system to where it must have converged: heartbeats
// until no resync is pending, with no loss meanwhile.
func (m *model) settle() {
	for range 5 {
		m.heartbeats()
		if len(m.syncs) == 0 {
			break
		}
	}
	m.lossy = false
}

// truth returns who is online and each online user's friends: the union of
// the lists of their sessions.
func (m *model) truth() (map[int64]bool, map[int64][]int64) {
	online := map[int64]bool{}
	friends := map[int64][]int64{}
	for _, g := range m.gateways {
		for _, s := range g.sessions {
			online[s.user] = true
			friends[s.user] = append(friends[s.user], s.friends...)
		}
	}
	for u, f := range friends {
		slices.Sort(f)
		friends[u] = slices.Compact(f)
	}
	return online, friends
}

// forget clears the duplicate check for friends that left a user's list: a
// later message about them is news again.
func (m *model) forget() {
	_, friends := m.truth()
	for _, g := range m.gateways {
		for _, s := range g.sessions {
			for f := range s.fresh {
				if !shared.Contains(friends[s.user], f) || !shared.Contains(m.unions[s.user], f) {
					delete(s.fresh, f)
				}
			}
		}
	}
	m.unions = friends
}

// check compares every session's view with the truth.
func (m *model) check() {
	online, friends := m.truth()
	for _, g := range m.gateways {
		for _, s := range g.sessions {
			if !s.ready {
				m.t.Fatalf("session %s of %d never got ready\n%s", s.id, s.user, m.history())
			}
			for _, f := range friends[s.user] {
				want := online[f] && (m.policy == PolicyWatchers || shared.Contains(friends[f], s.user))
				if s.view[f] != want {
					m.t.Fatalf("session %s of %d (friends %v) believes %d online=%v, truth %v\n%s",
						s.id, s.user, friends[s.user], f, s.view[f], want, m.history())
				}
			}
		}
	}
}

func TestStateMachineProperty(t *testing.T) {
	for _, policy := range []Policy{PolicyWatchers, PolicyMutual} {
		for seed := range uint64(300) {
			m := &model{t: t, rng: rand.New(rand.NewPCG(seed, uint64(policy))), policy: policy,
				now: time.Unix(0, 0), gateways: map[string]*mGateway{}, syncs: map[string]bool{}}
			m.st = newLedger(policy, shared.MustSubjects(""), time.Second, m)
			for i := range 3 {
				id := fmt.Sprintf("g%d", i)
				m.gateways[id] = &mGateway{id: id, boot: id + "b", sessions: map[string]*mSession{}}
			}
			for range 200 {
				m.forget()
				m.step()
				if len(m.gateways) == 0 {
					m.gateways["g9"] = &mGateway{id: "g9", boot: "g9b", sessions: map[string]*mSession{}}
				}
				if m.rng.IntN(10) == 0 {
					m.settle()
					m.check()
				}
			}
			m.settle()
			m.check()
		}
	}
}
