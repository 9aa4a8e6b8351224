package gateway

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/alo-presence/alo/shared"
)

// The user's status (DESIGN §2): each session remembers the status it last
// set and when, and tells presence; presence takes, per user, the one set
// last among the user's open sessions. "Last" is by the time the gateway
// stamps on it, not by arrival at presence: a resend after presence
// restarts must rebuild the same status in whatever order the gateways'
// resends arrive, and only a time carried with each status allows that.
// Gateways' clocks are assumed synchronised (NTP keeps them within
// milliseconds, far below how often a person changes status).

// stampStatus returns the time for a status set now: Unix nanoseconds,
// strictly increasing on this gateway, so that two sets on it never tie
// even if the clock steps back.
func (srv *Server) stampStatus() int64 {
	now := time.Now().UnixNano()
	for {
		last := srv.statusClock.Load()
		next := max(now, last+1)
		if srv.statusClock.CompareAndSwap(last, next) {
			return next
		}
	}
}

// setStatus records a status the session's client set (in its hello or
// later) and returns the event that tells presence.
func (s *session) setStatus(st shared.Status, text string) shared.Event {
	at := s.srv.stampStatus()
	s.mu.Lock()
	s.status, s.text, s.statusAt = st, text, at
	s.mu.Unlock()
	return shared.Event{Type: shared.EventStatus, Session: s.id, User: s.user, Status: st, Text: text, StatusAt: at}
}

// statusView returns what a resync carries of the session's status, and
// the statuses it was told of its friends online (KnownStatus).
func (s *session) statusView() (shared.Status, string, int64, []shared.FriendPresence) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var told []shared.FriendPresence
	for id, f := range s.toldStatus {
		if shared.Contains(s.known, id) {
			told = append(told, f)
		}
	}
	slices.SortFunc(told, func(a, b shared.FriendPresence) int { return cmp.Compare(a.User, b.User) })
	return s.status, s.text, s.statusAt, told
}

// setToldLocked records the status of an online friend the session is
// told, after setKnownLocked, when it is not plain. Like known, only the
// session's friends are recorded, so forged states cannot grow it.
func (s *session) setToldLocked(id int64, p shared.Presence) {
	if !p.Online || p.Status == shared.StatusOnline && p.Text == "" || !shared.Contains(s.known, id) {
		return
	}
	if s.toldStatus == nil {
		s.toldStatus = make(map[int64]shared.FriendPresence)
	}
	if len(s.toldStatus) > len(s.known) {
		// Friends dropped from the list leave entries behind: prune them,
		// so the map stays bounded by the friend list.
		maps.DeleteFunc(s.toldStatus, func(id int64, _ shared.FriendPresence) bool { return !shared.Contains(s.known, id) })
	}
	s.toldStatus[id] = shared.FriendPresence{User: id, Status: p.Status, Text: p.Text}
}

// deliverState is deliver for a state message with a status, text or last
// seen (read with shared.DecodeState), whose status the session records.
func (s *session) deliverState(data []byte, about int64, p shared.Presence) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready || s.dc != nil {
		return
	}
	s.known = s.setKnownLocked(about, p.Online)
	s.setToldLocked(about, p)
	s.srv.metrics.queued(s, true)
	s.appendLocked(func(b []byte) []byte { return append(b, data...) })
}

// helloStatus is the status a hello sets, if it sets one.
type helloStatus struct {
	status shared.Status
	text   string
}

// statusOf returns the status m sets (DecodeClient checked it), or nil.
func statusOf(m *shared.ClientMessage) *helloStatus {
	if !m.HasStatus {
		return nil
	}
	return &helloStatus{m.Status, string(m.Text)}
}
