package shared

import (
	"time"

	json "github.com/goccy/go-json"
)

// ServerMessage is anything a gateway sends a client, decoded: a state
// ({"user_id","online"}, optionally "status", "text", "last_seen"), ready
// ({"ready","session"}), a push ({"push"}) or an error ({"error","message"}).
// It is the one Go definition of what the server sends, for the code that
// reads it (the client package, the tests' clients, composecheck); the
// gateway writes it with the Append functions, and
// TestAppendDecodesAsServerMessage holds the two together. A new field of
// the wire is a new field here, omitempty, so that it is absent unless sent.
// Pointers tell "absent" from the zero value, which matters for online:false.
type ServerMessage struct {
	UserID  *int64 `json:"user_id,omitempty"`
	Online  *bool  `json:"online,omitempty"`
	Ready   bool   `json:"ready,omitempty"`
	Session string `json:"session,omitempty"`
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	// Status is the state's status name ("away", "dnd"), empty for plain
	// online. A string, not a Status, so that a reader survives a status
	// a newer server invents; Presence parses it.
	Status string `json:"status,omitempty"`
	// Text is the state's status text, empty for none.
	Text string `json:"text,omitempty"`
	// LastSeen is when an offline friend was last online, nil if unknown.
	LastSeen *time.Time `json:"last_seen,omitempty"`
	// Push is a backend's message, a JSON object, undecoded.
	Push json.RawMessage `json:"push,omitempty"`
}

// ServerKind says which of the server's messages a ServerMessage is.
type ServerKind int

// The kinds of ServerMessage.
const (
	// ServerUnknown is a message none of the others match, such as the
	// seed's bare {"online":true}: a reader reports it and goes on, since
	// servers may add messages.
	ServerUnknown ServerKind = iota
	ServerState              // UserID and Online; Presence for the rest
	ServerReady              // Session
	ServerError              // Error (a Code constant) and Message
	ServerPush               // Push, a JSON object
)

// Kind classifies m. An error wins over anything else in the message, then
// ready, then push; a push must hold an object; a state needs both its
// fields and a positive user id.
func (m *ServerMessage) Kind() ServerKind {
	switch {
	case m.Error != "":
		return ServerError
	case m.Ready:
		return ServerReady
	case len(m.Push) > 0 && m.Push[0] == '{':
		return ServerPush
	case m.UserID != nil && m.Online != nil && *m.UserID > 0:
		return ServerState
	}
	return ServerUnknown
}

// Presence returns what a state message says of the user beyond the id. A
// status name this version does not know reads as StatusOnline (the user is
// online, which is all such a reader can show); Online is false when absent.
func (m *ServerMessage) Presence() Presence {
	var p Presence
	if m.Online != nil {
		p.Online = *m.Online
	}
	p.Status, _ = ParseStatus(m.Status)
	p.Text = m.Text
	if m.LastSeen != nil {
		p.LastSeen = m.LastSeen.Unix()
	}
	return p
}

// DecodeServer decodes one server message (a line without its ending, or a
// frame) into m, which it resets first. Unknown fields are ignored.
func DecodeServer(data []byte, m *ServerMessage) error {
	*m = ServerMessage{}
	return json.Unmarshal(data, m)
}
