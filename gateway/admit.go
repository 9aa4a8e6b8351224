package gateway

import (
	"errors"
	"net"
	"sync"

	"github.com/gobwas/ws"
)

// Admission at the edge, wired into the transports: a connection is
// admitted (limits.go) the moment it is accepted, before it costs anything
// more than the socket, and holds its Lease until it is closed.

// leasedConn is an admitted connection: closing it releases its lease, once,
// whoever closes it and however often (the writer, the reader's defer and
// shutdown may all close a connection).
type leasedConn struct {
	net.Conn
	lease Lease
	once  sync.Once
}

func (c *leasedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.lease.Release)
	return err
}

// admit admits a connection accepted on the TCP listener against every
// limit. A refused one is told why in one line when tell is set (plain
// TCP) and closed; admit reports whether the caller may go on with the
// returned connection.
func (srv *Server) admit(c net.Conn, tell bool) (net.Conn, bool) {
	lease, err := srv.adm.Admit(RemoteIP(c))
	if err != nil {
		if !tell {
			srv.rlog.Info("conn_refused", "connection refused", "remote", c.RemoteAddr().String(), "err", err)
			c.Close()
			return nil, false
		}
		srv.refused(c, err)
		return nil, false
	}
	return &leasedConn{Conn: c, lease: lease}, true
}

// refused logs and tells a connection refused by a limit, and closes it.
func (srv *Server) refused(c net.Conn, err error) {
	var le *LimitError
	if !errors.As(err, &le) {
		c.Close()
		return
	}
	srv.rlog.Info("conn_refused", "connection refused", "remote", c.RemoteAddr().String(), "err", err)
	refuseConn(c, le.Protocol())
}

// LimitListener returns ln with every accepted connection admitted against
// its source's limits (Admission.AdmitSource), not the gateway's total: it
// is for the HTTP listener, whose /healthz must keep answering when the
// gateway is full. A refused connection is closed without a word (it may not
// speak HTTP yet); the WebSocket handler counts an upgraded connection
// against the total too. Wrap the raw listener, inside any TLS, so that a
// refused source costs no handshake.
func (srv *Server) LimitListener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, srv: srv}
}

type limitListener struct {
	net.Listener
	srv *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lease, err := l.srv.adm.AdmitSource(RemoteIP(c))
		if err != nil {
			l.srv.rlog.Info("http_conn_refused", "http connection refused", "remote", c.RemoteAddr().String(), "err", err)
			c.Close()
			continue
		}
		// A hijacked connection (a WebSocket) is this one, so it stays
		// counted until the gateway closes it.
		return &leasedConn{Conn: c, lease: lease}, nil
	}
}

// wsTryAgainLater is the WebSocket close code for a refusal that may pass
// later (RFC 6455 registry: 1013 Try Again Later).
const wsTryAgainLater ws.StatusCode = 1013

// wsRefusal is how a WebSocket refused by a limit is closed.
func wsRefusal(le *LimitError) *disconnect {
	return &disconnect{reason: reasonUnavailable, code: wsTryAgainLater, err: le.Protocol()}
}

// openRefusal is the disconnect for a session open refused: a limit's own
// error (too_many_sessions, friends_rate_limited, friend_union_too_large),
// else unavailable.
func openRefusal(err error) *disconnect {
	var le *LimitError
	if errors.As(err, &le) {
		return protocolDisconnect(le.Protocol())
	}
	return unavailable(err)
}
