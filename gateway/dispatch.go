package gateway

import (
	"bytes"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/shared"
)

// dispatchLoop routes every message the gateway receives from NATS, in the
// order NATS delivered them, until stop is closed. Anyone on the bus can send
// what it reads, so every line it logs goes through srv.rlog: a flood of
// garbage costs a line per kind per second, not one each.
func (srv *Server) dispatchLoop(stop <-chan struct{}) {
	d := dispatcher{
		srv: srv,
		ctl: srv.subjects.Gateway(srv.cfg.ID),
		up:  srv.subjects.PresenceUp(),
	}
	for {
		select {
		case <-stop:
			return
		case m := <-srv.inbox:
			d.dispatch(m)
		}
	}
}

type dispatcher struct {
	srv     *Server
	ctl, up string
	msg     shared.ClientMessage
	control shared.Control
}

func (d *dispatcher) dispatch(m *nats.Msg) {
	srv := d.srv
	if uid, ok := srv.subjects.ParseUser(m.Subject); ok {
		d.toUser(uid, m.Data)
		return
	}
	switch m.Subject {
	case d.ctl:
		if err := shared.UnmarshalControl(m.Data, &d.control); err != nil {
			srv.rlog.Warn("bad control", "bad control message", "err", err)
			return
		}
		if d.control.Sync {
			srv.requestResync()
		}
		for i := range d.control.Sessions {
			st := &d.control.Sessions[i]
			srv.mu.RLock()
			s := srv.sessions[st.Session]
			srv.mu.RUnlock()
			if s != nil {
				s.apply(st)
			}
		}
	case d.up:
		srv.rlog.Info("presence up", "presence announced itself, resynchronising")
		srv.requestResync()
	}
}

// toUser forwards a message published to a user's subject to that user's
// sessions here. Anyone may publish there, so the message must be one JSON
// object on one line; presence's state messages also update each session's
// view of its friends.
func (d *dispatcher) toUser(uid int64, data []byte) {
	srv := d.srv
	if bytes.IndexByte(data, '\n') >= 0 {
		srv.rlog.Debug("user message line break", "dropped a user message with a line break", "user", uid)
		return
	}
	// A state message with a status (issue 13) is not a client message
	// (text without status): it is recognised as presence writes it.
	if id, p, err := shared.DecodeState(data); err == nil {
		srv.mu.RLock()
		defer srv.mu.RUnlock()
		if e := srv.users[uid]; e != nil {
			for _, s := range e.sessions {
				s.deliverState(data, id, p)
			}
		}
		return
	}
	m := &d.msg
	if err := shared.DecodeClient(data, m, srv.cfg.MaxFriends); err != nil {
		srv.rlog.Debug("user message not json", "dropped a user message that is not a JSON object", "user", uid, "err", err)
		return
	}
	state := m.HasUserID && m.HasOnline && !m.HasFriends
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	if e := srv.users[uid]; e != nil {
		for _, s := range e.sessions {
			s.deliver(data, state, m.UserID, m.Online)
		}
	}
}
