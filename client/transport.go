package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Conn is one connection to a gateway that carries whole messages: a line on
// TCP, a text frame on WebSocket. Implementations must allow one reader and
// one writer at the same time; Close may be called at any time, more than
// once, and unblocks both.
type Conn interface {
	// ReadMessage returns the next message, without framing. It skips
	// keep-alives (blank lines on TCP).
	ReadMessage() ([]byte, error)
	// WriteMessage sends one message, adding the framing.
	WriteMessage(msg []byte) error
	Close() error
}

// DialFunc opens a Conn to addr. It is the seam for transports: the Client
// never looks at addr itself.
type DialFunc func(ctx context.Context, addr string) (Conn, error)

// ErrNoTransport is returned by Dial for an address whose scheme has no
// transport in this build.
var ErrNoTransport = errors.New("client: no transport for address")

// transports maps a scheme to its DialFunc.
var transports = map[string]DialFunc{
	"tcp": DialTCP,
	"ws":  DialWS,
	"wss": DialWS,
}

// Dial opens a Conn to addr, choosing the transport by scheme:
// "host:port" and "tcp://host:port" are TCP JSON Lines; "ws://…" and
// "wss://…" are WebSocket.
func Dial(ctx context.Context, addr string) (Conn, error) {
	scheme, rest := "tcp", addr
	if i := strings.Index(addr, "://"); i >= 0 {
		scheme, rest = strings.ToLower(addr[:i]), addr[i+3:]
	}
	dial, ok := transports[scheme]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoTransport, addr)
	}
	if scheme == "tcp" {
		// TCP wants a bare host:port; other schemes keep the full URL.
		addr = rest
	}
	return dial(ctx, addr)
}
