package presence

import (
	"slices"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/shared"
)

// publisher turns the state machine's output into NATS messages, in order.
// Consecutive session states for one gateway travel in one message, cut by
// its real encoded size so that no publish exceeds the server's payload
// limit: one oversized message would fail whole, and with it every other
// session it carried.
type publisher struct {
	nc       *nats.Conn
	subjects shared.Subjects
	log      *shared.RateLog
	buf      []byte
	ctlGW    string
	ctl      shared.ControlBuilder
	// mute drops everything: a presence standing by for another publishes
	// nothing.
	mute bool
	m    *metrics // nil in tests that drive the state machine directly
}

// maxControlBytes cuts control messages below the payload limit (1 MiB by
// default) too, so that one does not hold a gateway's dispatcher for long.
const maxControlBytes = 256 << 10

// defaultMaxPayload is NATS's default limit, for when the server has not said.
const defaultMaxPayload = 1 << 20

// limit returns the largest message presence may publish now. The server
// states it on connect, and a reconnect may reach a server with another.
func (p *publisher) limit() int {
	n := int(p.nc.MaxPayload())
	if n <= 0 {
		n = defaultMaxPayload
	}
	return n
}

func (p *publisher) notify(to *user, about int64, pr shared.Presence) {
	p.end()
	p.buf = shared.AppendPresence(p.buf[:0], about, pr)
	p.publish(to.subject, p.buf)
	p.count(countNotification)
}

func (p *publisher) session(gw string, st shared.SessionState) {
	if p.ctlGW != gw {
		p.end()
		p.ctlGW = gw
	}
	p.count(countSnapshot)
	p.add(&st, min(p.limit(), maxControlBytes), p.limit())
}

// add appends one session state to the pending message, sending that first
// if the state would not fit. A state too large for a message of its own
// (a snapshot of thousands of friends against a small limit) is cut in
// halves, in order, rather than dropped: its session needs it, and its gateway
// applies the parts in turn.
func (p *publisher) add(st *shared.SessionState, soft, hard int) {
	enc, err := shared.EncodeSessionState(st)
	if err != nil {
		return
	}
	if p.ctl.Len() > 0 && p.ctl.SizeWith(enc) > soft {
		gw := p.ctlGW
		p.end()
		p.ctlGW = gw
	}
	if p.ctl.Len() == 0 && p.ctl.SizeWith(enc) > hard {
		n := len(st.Online) + len(st.Offline)
		if n < 2 {
			p.log.Error("state_too_large", "session state larger than the nats payload limit, dropped",
				"gateway", p.ctlGW, "session", st.Session, "bytes", len(enc), "limit", hard)
			return
		}
		p.log.Warn("state_split", "session state larger than the nats payload limit, sent in parts",
			"gateway", p.ctlGW, "session", st.Session, "bytes", len(enc), "limit", hard)
		all := append(append(make([]int64, 0, n), st.Online...), st.Offline...)
		on := len(st.Online)
		half := n / 2
		first := shared.SessionState{Session: st.Session, Online: all[:min(half, on)], Offline: all[min(half, on):half]}
		second := shared.SessionState{Session: st.Session, Online: all[min(half, on):on], Offline: all[max(half, on):]}
		first.Rich, second.Rich = richFor(st.Rich, &first), richFor(st.Rich, &second)
		p.add(&first, soft, hard)
		p.add(&second, soft, hard)
		return
	}
	p.ctl.Add(enc)
}

func (p *publisher) askSync(gw string) {
	p.end()
	data, _ := shared.MarshalControl(&shared.Control{Sync: true})
	p.publish(p.subjects.Gateway(gw), data)
	p.count(countResync)
}

// end sends the pending control message, if any.
func (p *publisher) end() {
	if p.ctlGW == "" {
		return
	}
	if data := p.ctl.Finish(); data != nil {
		p.publish(p.subjects.Gateway(p.ctlGW), data)
	}
	p.ctlGW = ""
}

func (p *publisher) publish(subject string, data []byte) {
	if p.mute {
		return
	}
	// A publish fails while NATS is unreachable; what it carried is
	// recovered by the resync that follows the reconnect.
	if err := p.nc.Publish(subject, data); err != nil {
		p.log.Warn("publish_failed", "publish failed", "subject", subject, "bytes", len(data), "err", err)
	}
}

// richFor returns the entries of rich for the ids of part, in order.
func richFor(rich []shared.FriendPresence, part *shared.SessionState) []shared.FriendPresence {
	var out []shared.FriendPresence
	for _, f := range rich {
		if slices.Contains(part.Online, f.User) || slices.Contains(part.Offline, f.User) {
			out = append(out, f)
		}
	}
	return out
}
