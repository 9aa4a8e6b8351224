package gateway

import (
	"net"

	"github.com/alo-presence/alo/shared"
)

// hello is every transport's handshake, the one place a connection becomes
// a session: it reads messages with next until the first that is not blank
// (blank ones are keep-alives), checks that it is a hello, and opens the
// session, whose writer is writer. Identity, when the hello carries one, is
// checked here too (verifyHello).
//
// next returns the next message, or the disconnect that ends the connection
// when there is none (the transport maps its read failures: a deadline, an
// oversized message, a closed socket). The transport sets the hello
// deadline around the call. Without a session hello returns the disconnect
// whose error the transport tells the client before closing. c is the
// connection (nil for UDP), so that shutdown lets its writer say goodbye.
func (srv *Server) hello(next func() ([]byte, *disconnect), c net.Conn, writer func(*session)) (_ *session, refused *disconnect) {
	defer func() { srv.metrics.hello(refused) }()
	var m shared.ClientMessage
	for {
		msg, d := next()
		if d != nil {
			return nil, d
		}
		if len(trimSpace(msg)) == 0 {
			continue // keep-alive
		}
		if err := shared.DecodeClient(msg, &m, srv.cfg.MaxFriends); err != nil {
			return nil, asDisconnect(err)
		}
		break
	}
	// ---- Identity, friends, open: in this order, each one step. ----
	// (Admission of the connection, per source and per user, belongs
	// before step 1: a refused connection costs no token check.)
	// 1. Who is this: the hello's user_id, or its token's sub (auth.go).
	id, d := srv.verifyHello(&m)
	if d != nil {
		return nil, d
	}
	// 2. Whose friend list: the client's, or a trusted source's.
	if d := srv.resolveFriends(&m, &id); d != nil {
		return nil, d
	}
	// 3. Open the session as that user, with that list (and the refusal
	// of the client's own, if the source is trusted).
	s, err := srv.open(&id, statusOf(&m), c, writer)
	if err != nil {
		return nil, openRefusal(err)
	}
	s.startExpiry(id.expires)
	return s, nil
}

// helloToken returns a message's token, if it has one. The string is a
// copy: m.Token is reused by the next message.
func helloToken(m *shared.ClientMessage) (string, bool) {
	return string(m.Token), m.HasToken
}

// validateHello checks a decoded first message when the hello is trusted
// (--auth none).
func validateHello(m *shared.ClientMessage) *shared.ProtocolError {
	switch {
	case !m.HasUserID:
		return &shared.ProtocolError{Code: shared.CodeHelloRequired,
			Message: `the first message must be a hello: {"user_id": <id>, "friends": [<id>, ...]}`}
	case m.HasOnline && !m.Online:
		return &shared.ProtocolError{Code: shared.CodeHelloRequired, Message: "logout before hello: there is no session to end"}
	}
	return nil
}

// readSession is a stream transport's reader once its session is open: it
// hands each message to the session until the connection or the session
// ends, then ends the session and waits for its writer to close the
// connection. next is as for hello.
func (srv *Server) readSession(s *session, next func() ([]byte, *disconnect)) {
	for {
		msg, d := next()
		if d == nil {
			d = s.handle(msg)
		}
		if d != nil {
			s.close(d)
			break
		}
	}
	srv.end(s)
	<-s.done
}
