package gateway

import (
	"net"
	"net/netip"
	"time"

	"github.com/alo-presence/alo/shared"
)

// udpGate stands between a datagram from an address without a session and
// everything that costs more than reading it: it answers hellos without a
// good cookie with one, and fits and meters every reply to such an address.
// The UDP reader calls it, in this order, for a datagram of n bytes from an
// address without a session:
//
//  1. decode (bounded by the datagram's size); on error, errorReply;
//  2. checkHello with the hello's cookie: unless it says go on, send what it
//     returns (maybe nothing) and stop;
//  3. only now what is dear or holds state: validateHello (a JWT signature),
//     Admission.Admit, UserLimits.Open, the session; their refusals go out
//     through errorReply too.
//
// Step 2 comes before 3 so that a forged source can neither make the
// gateway verify tokens nor take the per-address connection slots of the
// address it forges. The gateway's reader is one goroutine, but the gate is
// safe for concurrent use anyway.
type udpGate struct {
	cookies *Cookies    // nil: no cookie asked for
	replies *SourceRate // replies to addresses without a session
}

// newUDPGate returns a gate; a zero window is DefaultCookieWindow, and
// noCookie turns the cookie off (for a private network where sources are
// trusted). Replies are metered per source at rate and burst.
func newUDPGate(noCookie bool, window time.Duration, rate float64, burst int) *udpGate {
	g := &udpGate{replies: NewSourceRate(rate, burst, DefaultUDPReplySources)}
	if !noCookie {
		g.cookies = NewCookies(window)
	}
	return g
}

// checkHello reports whether a hello of n bytes from addr, echoing cookie
// (empty when it has none), may go on to open a session. When it may not,
// reply is what to send back (appended to dst): the cookie, if the hello is
// at least as long as the reply and the address has replies left; else
// nothing (nil).
func (g *udpGate) checkHello(dst []byte, addr netip.AddrPort, cookie string, n int) (reply []byte, ok bool) {
	if g.cookies == nil || g.cookies.Verify(addr, cookie) {
		return nil, true
	}
	// A hello too short for the reply is not answered: QUIC's rule (the
	// client pads), and no reply is better than a cut cookie.
	if n < CookieReplyLen || !g.replies.Allow(addr.Addr()) {
		return nil, false
	}
	return append(shared.AppendCookie(dst, g.cookies.Mint(addr)), '\n'), false
}

// errorReply appends to dst the error pe for a datagram of n bytes from
// addr, cut to fit in n bytes with its line break; nil when even the code
// does not fit or the address has no replies left.
//
// Without a cookie (NoCookie: sources are trusted) the error is not cut: a
// hello opens a session, whose replies are larger than it anyway, so
// cutting errors would protect nobody and only hide what went wrong.
func (g *udpGate) errorReply(dst []byte, addr netip.AddrPort, pe *shared.ProtocolError, n int) []byte {
	if g.cookies == nil {
		if !g.replies.Allow(addr.Addr()) {
			return nil
		}
		return append(shared.AppendError(dst, pe.Code, pe.Message), '\n')
	}
	b, ok := shared.AppendErrorWithin(dst, pe.Code, pe.Message, n-1)
	if !ok || !g.replies.Allow(addr.Addr()) {
		return nil
	}
	return append(b, '\n')
}

// refuseTimeout bounds the write of a refusal: the line fits in any socket
// buffer, so this only matters for a peer that has already gone.
const refuseTimeout = 100 * time.Millisecond

// refuseConn tells a stream connection refused at accept why, in one line,
// and closes it. The accept loop calls it inline: a fresh socket's send
// buffer takes the line at once, so it does not block on the client.
func refuseConn(c net.Conn, pe *shared.ProtocolError) {
	_ = c.SetWriteDeadline(time.Now().Add(refuseTimeout))
	_, _ = c.Write(append(shared.AppendError(nil, pe.Code, pe.Message), '\n'))
	_ = c.Close()
}

// helloCookie returns the cookie a hello echoes ("" when it has none).
// Verify compares it without keeping it, so the conversion need not copy
// for long; a hello comes once per session.
func helloCookie(m *shared.ClientMessage) string {
	if !m.HasCookie {
		return ""
	}
	return string(m.Cookie)
}
