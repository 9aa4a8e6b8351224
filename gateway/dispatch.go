package gateway

import (
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/shared"
)

// maxStateBytes caps what the gateway reads from a user's subject: a state
// message presence sends is a few hundred bytes (an id, a status, a text of
// at most 128 characters, a time). Anything longer is not one, and is
// dropped before it is decoded.
const maxStateBytes = 2 << 10

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
	control shared.Control
	buf     []byte // the message as sessions get it, re-encoded
}

func (d *dispatcher) dispatch(m *nats.Msg) {
	srv := d.srv
	srv.metrics.recvAt.Store(nanotime())
	if uid, ok := srv.subjects.ParseUser(m.Subject); ok {
		d.toUser(uid, m.Data)
		return
	}
	if uid, ok := srv.subjects.ParsePush(m.Subject); ok {
		d.push(uid, m.Data)
		return
	}
	switch m.Subject {
	case d.ctl:
		if err := shared.UnmarshalControl(m.Data, &d.control); err != nil {
			srv.metrics.busDropped[busDropControl].Inc()
			srv.rlog.Warn("bad control", "bad control message", "err", err)
			return
		}
		if d.control.Sync {
			srv.requestResync()
		}
		for i := range d.control.Kicks {
			srv.kick(&d.control.Kicks[i])
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

// toUser forwards a state message from a user's subject to that user's
// sessions here. Only presence publishes there where NATS permissions are
// on; where they are off anyone can, so the gateway forwards only the shape
// presence sends (shared.DecodeState, strict), re-encoded from the decoded
// fields: nothing else on the bus (an error, a ready, a push, bytes word for
// word) can reach a client through it.
func (d *dispatcher) toUser(uid int64, data []byte) {
	srv := d.srv
	if len(data) > maxStateBytes {
		srv.metrics.busDropped[busDropUserMessage].Inc()
		srv.rlog.Warn("user message too big", "dropped a message on a user subject larger than a state message", "user", uid, "bytes", len(data))
		return
	}
	about, p, err := shared.DecodeState(data)
	if err != nil {
		srv.metrics.busDropped[busDropUserMessage].Inc()
		srv.rlog.Warn("user message not a state", "dropped a message on a user subject that is not a state message", "user", uid, "err", err)
		return
	}
	d.buf = shared.AppendPresence(d.buf[:0], about, p)
	// Each session also records the status it was told (issue 13), for
	// the known_status of its resyncs.
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	if e := srv.users[uid]; e != nil {
		for _, s := range e.sessions {
			s.deliverState(d.buf, about, p)
		}
	}
}

// push forwards a backend's message from a user's push subject to that
// user's sessions here, as {"push": <object>}: a client can never take it
// for a server message, whatever it holds. It must be one JSON object of at
// most Config.MaxPushBytes (shared.ValidPushPayload).
func (d *dispatcher) push(uid int64, data []byte) {
	srv := d.srv
	if len(data) > srv.cfg.MaxPushBytes {
		srv.metrics.busDropped[busDropPush].Inc()
		srv.rlog.Warn("push too big", "dropped a push larger than the limit", "user", uid, "bytes", len(data), "max", srv.cfg.MaxPushBytes)
		return
	}
	if !shared.ValidPushPayload(data, srv.cfg.MaxPushBytes) {
		srv.metrics.busDropped[busDropPush].Inc()
		srv.rlog.Warn("push not an object", "dropped a push that is not one JSON object", "user", uid, "bytes", len(data))
		return
	}
	d.buf = shared.AppendPush(d.buf[:0], data)
	d.deliver(uid, false, 0, false)
}

// deliver queues d.buf to every session of uid here.
func (d *dispatcher) deliver(uid int64, state bool, about int64, online bool) {
	srv := d.srv
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	if e := srv.users[uid]; e != nil {
		for _, s := range e.sessions {
			s.deliver(d.buf, state, about, online)
		}
	}
}
