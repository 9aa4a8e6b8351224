package client

import (
	"fmt"
	"time"

	"github.com/alo-presence/alo/shared"
)

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event, in the order a session usually produces them.
const (
	// EventConnected: the transport is up and the hello was sent.
	EventConnected EventKind = iota + 1
	// EventPresence: a friend's state (UserID, Online). The snapshot of
	// online friends arrives as EventPresence before EventReady.
	EventPresence
	// EventReady: the server registered the session (Session); the snapshot
	// is complete, so friends not reported online since EventConnected are
	// offline.
	EventReady
	// EventError: the server reported a problem (Code, Message). Fatal ones
	// are followed by EventDisconnected.
	EventError
	// EventUnknown: a message the client did not recognise (Raw, and Err if
	// it was not JSON). Reported, never fatal.
	EventUnknown
	// EventDisconnected: the connection ended or could not be made (Err).
	// RetryIn is how long the client waits before the next attempt; zero
	// when it will not retry.
	EventDisconnected
)

// String returns the lowercase name used in logs and the terminal client.
func (k EventKind) String() string {
	switch k {
	case EventConnected:
		return "connected"
	case EventPresence:
		return "presence"
	case EventReady:
		return "ready"
	case EventError:
		return "error"
	case EventUnknown:
		return "unknown"
	case EventDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing that happened on the client's connection. Which fields
// are set depends on Kind.
type Event struct {
	Kind EventKind
	// Time is when the client received or noticed it.
	Time time.Time
	// Attempt counts connection attempts since the last ready session,
	// starting at 1 (EventConnected, EventDisconnected).
	Attempt int

	UserID int64 // EventPresence
	Online bool  // EventPresence
	// Status and Text are an online friend's status (StatusOnline and ""
	// when plain); LastSeen an offline friend's last seen, zero if unknown.
	// EventPresence.
	Status   shared.Status
	Text     string
	LastSeen time.Time

	Session string // EventReady
	Code    string // EventError
	Message string // EventError
	Raw     string // EventUnknown

	Err     error         // EventDisconnected, EventUnknown
	RetryIn time.Duration // EventDisconnected
}
