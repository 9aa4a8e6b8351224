package gateway

import (
	"github.com/gobwas/ws"

	"github.com/alo-presence/alo/shared"
)

// kick ends every session of a user here, as presence asks when a backend
// kicks them: each is told {"error":"kicked"} with the backend's message,
// and closed. Their close events say "kicked", for the change feed.
func (srv *Server) kick(k *shared.Kick) {
	msg := k.Message
	if msg == "" {
		msg = "your sessions were ended by the service"
	}
	d := &disconnect{reason: reasonKicked, code: ws.StatusPolicyViolation,
		err: &shared.ProtocolError{Code: shared.CodeKicked, Message: msg}}
	srv.mu.RLock()
	var sessions []*session
	if e := srv.users[k.User]; e != nil {
		sessions = append(sessions, e.sessions...)
	}
	srv.mu.RUnlock()
	for _, s := range sessions {
		s.close(d)
	}
	if len(sessions) > 0 {
		srv.log.Info("user kicked", "user", k.User, "sessions", len(sessions))
	}
}

// feedReason is the change feed's reason for a session that ended with d.
func feedReason(d *disconnect) string {
	if d == nil {
		return shared.ReasonClosed
	}
	switch d.reason {
	case reasonLogout:
		return shared.ReasonLogout
	case reasonIdle:
		return shared.ReasonTimeout
	case reasonKicked:
		return shared.ReasonKicked
	}
	return shared.ReasonClosed
}
