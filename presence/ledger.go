package presence

import (
	"slices"
	"time"

	"github.com/alo-presence/alo/shared"
)

// session is one gateway session as the ledger holds it.
type session struct {
	id      string
	user    int64
	friends []int64 // as the session last sent it, sorted
	hash    uint64  // its part of the gateway's digest
	gen     uint64  // the sync generation that last repeated it
	// The status the session last set, and when (its gateway's clock, Unix
	// nanoseconds; 0 if it never set one).
	status   shared.Status
	text     string
	statusAt int64
	// During a rebuild: the gateway's view of the session, kept until the
	// corrections are sent.
	pending     bool
	ready       bool
	known       []int64
	knownStatus []shared.FriendPresence
}

type gateway struct {
	id, boot  string
	sessions  map[string]*session
	digest    uint64
	lastSeen  time.Time
	gen       uint64 // the sync under way, 0 when none
	syncing   bool   // a sync was asked for or is under way
	syncSince time.Time
	// superseded holds the boots this id had before the current one, with
	// when each was last heard. A boot that speaks again within the lease
	// is a second gateway with our id, not a restart.
	superseded map[string]time.Time
	// The events accepted in the current second, against the rate bound.
	window time.Time
	spent  int
}

// limits bound what the ledger accepts from the bus (Config documents them).
type limits struct {
	gateways, sessions, friends, eventsPerSecond int
}

var defaultLimits = limits{DefaultMaxGateways, DefaultMaxGatewaySessions, DefaultMaxFriends, DefaultMaxEventsPerSecond}

// maxSuperseded bounds the boots a gateway entry remembers.
const maxSuperseded = 4

// emitter receives what the state machine decides to send, in order.
type emitter interface {
	notifier
	// session sends one session its corrections, and ready if it lacks it.
	session(gw string, st shared.SessionState)
	// askSync asks a gateway to resend its sessions.
	askSync(gw string)
}

// ledger is the gateways' side of presence: each gateway's sessions, digest
// and lease, its resyncs, and the rebuild after a start. It feeds the index
// with sessions as they come and go. Not safe for concurrent use: the
// service drives it from one goroutine, and tests drive it directly.
type ledger struct {
	idx      *index
	lease    time.Duration
	out      emitter
	gateways map[string]*gateway

	// rebuilding is true while presence collects sessions after a start:
	// nothing is sent until it ends, so nobody hears a false offline.
	rebuilding bool

	// log, when set, writes what the bus can trigger, rate-limited.
	log *shared.RateLog
	lim limits
}

func (l *ledger) warn(kind, msg string, args ...any) {
	if l.log != nil {
		l.log.Warn(kind, msg, args...)
	}
}

func newLedger(policy Policy, subjects shared.Subjects, lease time.Duration, out emitter) *ledger {
	return &ledger{
		idx:      newIndex(policy, subjects, out),
		lease:    lease,
		out:      out,
		gateways: make(map[string]*gateway),
		lim:      defaultLimits,
	}
}

// apply applies one gateway's batch of events.
func (l *ledger) apply(b *shared.Batch, now time.Time) {
	l.idx.why = shared.ReasonClosed // for the change feed (feed.go): what ends sessions here
	g := l.gateways[b.Gateway]
	var superseded map[string]time.Time
	if g != nil && g.boot != b.Boot {
		if last, ok := g.superseded[b.Boot]; ok && now.Sub(last) <= l.lease {
			// An earlier boot still speaks: two gateways run with one id.
			// The later one holds the id; following both would flap their
			// users at every batch.
			g.superseded[b.Boot] = now
			if l.log != nil {
				l.log.Error("duplicate_gateway", "two gateways with one id: ignoring the superseded one",
					"gateway", g.id, "boot", g.boot, "superseded_boot", b.Boot)
			}
			return
		}
		// The gateway restarted: what its previous run held is gone.
		superseded = g.superseded
		if superseded == nil {
			superseded = make(map[string]time.Time)
		}
		for boot, last := range superseded {
			if now.Sub(last) > l.lease || len(superseded) >= maxSuperseded {
				delete(superseded, boot)
			}
		}
		superseded[g.boot] = g.lastSeen
		l.idx.why = shared.ReasonGatewayLost
		l.dropGateway(g)
		l.idx.why = shared.ReasonClosed
		g = nil
	}
	if g == nil {
		if len(l.gateways) >= l.lim.gateways {
			l.warn("too_many_gateways", "batch from one gateway too many dropped", "gateway", b.Gateway, "limit", l.lim.gateways)
			return
		}
		g = &gateway{id: b.Gateway, boot: b.Boot, sessions: make(map[string]*session), superseded: superseded}
		l.gateways[b.Gateway] = g
	}
	g.lastSeen = now
	l.idx.now = now
	if now.Sub(g.window) >= time.Second {
		g.window, g.spent = now, 0
	}
	if g.spent+len(b.Events) > l.lim.eventsPerSecond {
		// Part of a resync may be lost here: abandon it, so that its
		// sync_end removes nothing, and let the digest ask again.
		g.gen, g.syncing = 0, false
		l.warn("gateway_rate", "gateway sends more events than presence accepts, batch dropped",
			"gateway", g.id, "events", len(b.Events), "limit_per_second", l.lim.eventsPerSecond)
		return
	}
	g.spent += len(b.Events)
	// A batch holding a resend is applied as one change of statuses: a
	// resend that repairs lost status events must not show the states in
	// between. Other batches apply each status as it comes, so that every
	// change a client makes reaches the watchers (damping aside).
	if slices.ContainsFunc(b.Events, func(ev shared.Event) bool { return ev.Sync }) {
		l.idx.beginDefer()
		defer l.idx.endDefer()
	}
	for i := range b.Events {
		ev := &b.Events[i]
		switch ev.Type {
		case shared.EventOpen, shared.EventUpdate:
			l.open(g, ev)
		case shared.EventClose:
			if sess := g.sessions[ev.Session]; sess != nil {
				l.idx.why = closeReason(ev.Reason)
				l.removeSession(g, sess)
				l.idx.why = shared.ReasonClosed
			}
		case shared.EventStatus:
			l.setStatus(g, ev)
		case shared.EventHeartbeat:
			l.heartbeat(g, ev, now)
		case shared.EventSyncBegin:
			g.gen, g.syncing, g.syncSince = ev.Gen, true, now
		case shared.EventSyncEnd:
			l.syncEnd(g, ev.Gen)
		case shared.EventBye:
			l.dropGateway(g)
			return
		}
	}
}

// open registers a session, or updates it if it is known. An update for an
// unknown session registers it too: its open was lost.
func (l *ledger) open(g *gateway, ev *shared.Event) {
	if ev.User <= 0 || ev.Session == "" {
		l.warn("bad_event", "event without a user or session dropped", "gateway", g.id, "type", ev.Type)
		return
	}
	if len(ev.Friends) > l.lim.friends || len(ev.Known) > l.lim.friends || len(ev.KnownStatus) > l.lim.friends {
		l.warn("event_too_large", "event with too many friends dropped", "gateway", g.id, "session", ev.Session,
			"friends", len(ev.Friends), "known", len(ev.Known), "limit", l.lim.friends)
		return
	}
	if ev.Type == shared.EventOpen && !l.validStatus(g, ev) {
		return
	}
	// The batch's slices are reused for the next batch: keep a copy.
	friends := shared.NormalizeFriends(slices.Clone(ev.Friends), ev.User)
	sess := g.sessions[ev.Session]
	if sess != nil && sess.user != ev.User {
		l.removeSession(g, sess)
		sess = nil
	}
	if sess != nil {
		if ev.Sync && ev.Gen == g.gen {
			sess.gen = ev.Gen
		}
		sess.friends = friends
		if ev.Type == shared.EventOpen {
			sess.status, sess.text, sess.statusAt = ev.Status, ev.Text, ev.StatusAt
		}
		l.rehash(g, sess)
		l.idx.changed(sess)
		if u := l.idx.users[sess.user]; u != nil && ev.Type == shared.EventOpen {
			// A resend may carry a status whose event was lost.
			l.idx.statusChanged(u)
		}
		if ev.Sync {
			l.report(g, sess, ev.Known, ev.KnownStatus, ev.Ready)
		}
		return
	}
	if len(g.sessions) >= l.lim.sessions {
		l.warn("too_many_sessions", "open beyond the sessions presence holds for a gateway dropped",
			"gateway", g.id, "limit", l.lim.sessions)
		return
	}
	sess = &session{id: ev.Session, user: ev.User, friends: friends}
	if ev.Type == shared.EventOpen {
		sess.status, sess.text, sess.statusAt = ev.Status, ev.Text, ev.StatusAt
	}
	sess.hash = sessionHash(sess)
	if ev.Sync && ev.Gen == g.gen {
		sess.gen = ev.Gen
	}
	g.sessions[sess.id] = sess
	g.digest ^= sess.hash
	l.idx.add(sess)
	l.report(g, sess, ev.Known, ev.KnownStatus, ev.Ready && ev.Sync)
}

// sessionHash is sess's part of its gateway's digest, as the gateway's
// shared.SessionSet computes it.
func sessionHash(sess *session) uint64 {
	return shared.SessionHash(sess.id, sess.friends) ^ shared.StatusHash(sess.id, sess.status, sess.text, sess.statusAt)
}

// rehash updates sess's part of g's digest after a change.
func (l *ledger) rehash(g *gateway, sess *session) {
	g.digest ^= sess.hash
	sess.hash = sessionHash(sess)
	g.digest ^= sess.hash
}

// validStatus checks an event's status: a gateway checked it already, so
// one that fails came from something else on the bus.
func (l *ledger) validStatus(g *gateway, ev *shared.Event) bool {
	switch {
	case ev.StatusAt == 0 && (ev.Status != shared.StatusOnline || ev.Text != ""),
		ev.StatusAt < 0, !ev.Status.Valid(), shared.CheckStatusText(ev.Text) != nil:
		l.warn("bad_status", "event with a bad status dropped", "gateway", g.id, "type", ev.Type, "session", ev.Session)
		return false
	}
	return true
}

// setStatus applies a status event. One for a session presence does not
// hold is dropped: its open was lost, and the heartbeat's digest will say
// so and bring a resend.
func (l *ledger) setStatus(g *gateway, ev *shared.Event) {
	sess := g.sessions[ev.Session]
	if sess == nil || sess.user != ev.User || ev.StatusAt == 0 || !l.validStatus(g, ev) {
		return
	}
	sess.status, sess.text, sess.statusAt = ev.Status, ev.Text, ev.StatusAt
	l.rehash(g, sess)
	if u := l.idx.users[sess.user]; u != nil {
		l.idx.statusChanged(u)
	}
}

func (l *ledger) removeSession(g *gateway, sess *session) {
	delete(g.sessions, sess.id)
	g.digest ^= sess.hash
	l.idx.remove(sess)
}

func (l *ledger) heartbeat(g *gateway, ev *shared.Event, now time.Time) {
	if g.syncing && now.Sub(g.syncSince) < l.lease {
		return // a resend is under way; judge the digest after it
	}
	if ev.Sessions != len(g.sessions) || ev.Digest != g.digest {
		g.syncing, g.syncSince = true, now
		l.out.askSync(g.id)
	}
}

func (l *ledger) syncEnd(g *gateway, gen uint64) {
	if gen != g.gen || gen == 0 {
		return
	}
	l.idx.beginDefer()
	for _, sess := range g.sessions {
		if sess.gen != gen {
			l.removeSession(g, sess)
		}
	}
	l.idx.endDefer()
	g.gen, g.syncing = 0, false
}

// dropGateway ends every session of a gateway and forgets it.
func (l *ledger) dropGateway(g *gateway) {
	l.idx.beginDefer()
	for _, sess := range g.sessions {
		l.removeSession(g, sess)
	}
	l.idx.endDefer()
	delete(l.gateways, g.id)
}

// expire drops the gateways whose lease ran out, and returns their ids.
func (l *ledger) expire(now time.Time) []string {
	l.idx.now = now
	var gone []string
	for _, g := range l.gateways {
		if now.Sub(g.lastSeen) > l.lease {
			l.idx.why = shared.ReasonGatewayLost
			gone = append(gone, g.id)
			l.dropGateway(g)
		}
	}
	return gone
}

// renewAll renews every lease, for when presence itself was cut off and could
// not have heard the heartbeats.
func (l *ledger) renewAll(now time.Time) {
	for _, g := range l.gateways {
		g.lastSeen = now
	}
}

// resyncing reports whether a gateway's resync is asked for or under way.
func (l *ledger) resyncing() bool {
	for _, g := range l.gateways {
		if g.syncing {
			return true
		}
	}
	return false
}

// The rebuild rule, in one place. A presence that starts empty collects the
// gateways' resends for a window (beginRebuild … finishRebuild) while its
// view is partial: a friend on a gateway that has not resent yet looks
// offline. So while it rebuilds nothing it computes may reach anyone: the
// index is quiet (no transitions, no friend-list news), and every session's
// corrections go through report, which holds them back until the window
// ends. A gateway that resends twice in the window, or a session that opens
// in it, only refreshes what is held.

// beginRebuild starts the rebuild window of a presence that starts empty.
func (l *ledger) beginRebuild() {
	l.rebuilding = true
	l.idx.quiet = true
}

// finishRebuild ends the rebuild window: each session collected meanwhile gets
// the corrections between what its gateway says it was told and the truth.
func (l *ledger) finishRebuild() {
	l.rebuilding = false
	l.idx.quiet = false
	for _, g := range l.gateways {
		for _, sess := range g.sessions {
			if sess.pending {
				sess.pending = false
				l.correct(g, sess, sess.known, sess.knownStatus, sess.ready)
				sess.known, sess.knownStatus = nil, nil
			}
		}
	}
}

// report sends a session its corrections given what its gateway says it was
// told (known) and whether it had ready; during a rebuild it keeps them for
// finishRebuild instead, the latest resend's view replacing an earlier one.
func (l *ledger) report(g *gateway, sess *session, known []int64, knownStatus []shared.FriendPresence, ready bool) {
	if l.rebuilding {
		sess.pending, sess.ready, sess.known = true, ready, slices.Clone(known)
		sess.knownStatus = slices.Clone(knownStatus)
		return
	}
	l.correct(g, sess, known, knownStatus, ready)
}

// correct sends a session the difference between what its gateway says it
// was told (known: friends online) and the truth. A session that is not ready
// always gets a message, since that message makes its gateway send ready.
// Only report and finishRebuild call it.
func (l *ledger) correct(g *gateway, sess *session, known []int64, knownStatus []shared.FriendPresence, ready bool) {
	st, ok := l.idx.snapshot(sess.id, sess.user, known, knownStatus)
	if !ok || ready && len(st.Online) == 0 && len(st.Offline) == 0 {
		return
	}
	l.out.session(g.id, st)
}

// stats is a summary of the state, for health and status endpoints.
type stats struct {
	Users    int  `json:"users"`
	Sessions int  `json:"sessions"`
	Gateways int  `json:"gateways"`
	Rebuild  bool `json:"rebuilding"`
}

func (l *ledger) stats() stats {
	st := stats{Users: len(l.idx.users), Gateways: len(l.gateways), Rebuild: l.rebuilding}
	for _, g := range l.gateways {
		st.Sessions += len(g.sessions)
	}
	return st
}
