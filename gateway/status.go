package gateway

import (
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

// statusView returns what a resync carries of the session's status.
func (s *session) statusView() (shared.Status, string, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status, s.text, s.statusAt
}
