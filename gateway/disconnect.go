package gateway

import (
	"errors"

	"github.com/gobwas/ws"

	"github.com/alo-presence/alo/shared"
)

// reason says why a connection or session ended. It is the one vocabulary
// of every transport: what the client is told, and the WebSocket close code,
// follow from a disconnect (below), never from the transport's own mapping.
type reason int

const (
	reasonClientClosed reason = iota // the client closed, or the read failed
	reasonLogout                     // the client sent {"online": false}
	reasonProtocol                   // a fatal protocol error
	reasonIdle                       // the client fell silent (UDP idle, WebSocket pongs)
	reasonSlow                       // the outbound queue filled up
	reasonWrite                      // a write failed or timed out
	reasonUnavailable                // the gateway could not open the session
	reasonShutdown                   // the gateway is stopping
	reasonKicked                     // a backend kicked the user (kick.go)
)

var reasons = [...]string{"client closed", "logout", "protocol error", "idle", "slow consumer", "write failed", "unavailable", "shutdown", "kicked"}

func (r reason) String() string { return reasons[r] }

// disconnect is why the gateway ends a connection, as every transport needs
// it: the reason (for logs), the error the client is told first if any, and
// the WebSocket close code. A session ends with exactly one; the first one
// given wins.
type disconnect struct {
	reason reason
	err    *shared.ProtocolError // sent to the client before closing; nil for none
	code   ws.StatusCode         // the WebSocket close frame's code
	why    string                // the close frame's text when err is nil
}

func (d *disconnect) Error() string {
	if d.err != nil {
		return "gateway: " + d.reason.String() + ": " + d.err.Error()
	}
	return "gateway: " + d.reason.String()
}

// closeText is the text of the WebSocket close frame: the error code, so a
// browser's close event says what the error message said.
func (d *disconnect) closeText() string {
	if d.err != nil {
		return d.err.Code
	}
	return d.why
}

// The disconnects that carry nothing but their reason.
var (
	dcClientClosed = &disconnect{reason: reasonClientClosed, code: ws.StatusNormalClosure}
	dcLogout       = &disconnect{reason: reasonLogout, code: ws.StatusNormalClosure, why: "logout"}
	dcSlow         = &disconnect{reason: reasonSlow, code: ws.StatusPolicyViolation, why: "slow consumer"}
	dcWrite        = &disconnect{reason: reasonWrite, code: ws.StatusNormalClosure}
	dcNoPong       = &disconnect{reason: reasonIdle, code: ws.StatusPolicyViolation, why: "no pong"}
	// dcShutdown tells every client, whatever its transport, why the
	// connection ends: a UDP client has no other way to learn it, and a TCP
	// client's close alone does not say whether to retry elsewhere.
	dcShutdown = &disconnect{reason: reasonShutdown, code: ws.StatusGoingAway,
		err: &shared.ProtocolError{Code: shared.CodeShutdown, Message: "the gateway is shutting down: connect and send your hello again"}}
)

// protocolDisconnect ends a connection for a fatal protocol error.
func protocolDisconnect(pe *shared.ProtocolError) *disconnect {
	return &disconnect{reason: reasonProtocol, err: pe, code: ws.StatusPolicyViolation}
}

// unavailable ends a connection whose session the gateway cannot open.
func unavailable(err error) *disconnect {
	return &disconnect{reason: reasonUnavailable, code: ws.StatusGoingAway,
		err: &shared.ProtocolError{Code: shared.CodeUnavailable, Message: "the gateway cannot take sessions now: " + err.Error()}}
}

// asDisconnect returns the disconnect an error carries, or a protocol
// disconnect for a decoding error.
func asDisconnect(err error) *disconnect {
	var d *disconnect
	if errors.As(err, &d) {
		return d
	}
	return protocolDisconnect(asProtocolError(err))
}

func asProtocolError(err error) *shared.ProtocolError {
	var pe *shared.ProtocolError
	if errors.As(err, &pe) {
		return pe
	}
	return &shared.ProtocolError{Code: shared.CodeBadJSON, Message: err.Error()}
}
