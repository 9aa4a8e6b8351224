package shared

import json "github.com/goccy/go-json"

// ServerMessage is anything a gateway sends a client, decoded: a state
// ({"user_id","online"}), ready ({"ready","session"}) or an error
// ({"error","message"}). It is the one Go definition of what the server
// sends, for the code that reads it (the client package, the tests' clients,
// composecheck); the gateway writes it with the Append functions, and
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
}

// ServerKind says which of the server's messages a ServerMessage is.
type ServerKind int

// The kinds of ServerMessage.
const (
	// ServerUnknown is a message none of the others match, such as the
	// seed's bare {"online":true}: a reader reports it and goes on, since
	// servers may add messages.
	ServerUnknown ServerKind = iota
	ServerState              // UserID and Online
	ServerReady              // Session
	ServerError              // Error (a Code constant) and Message
)

// Kind classifies m. An error wins over anything else in the message, then
// ready; a state needs both its fields and a positive user id.
func (m *ServerMessage) Kind() ServerKind {
	switch {
	case m.Error != "":
		return ServerError
	case m.Ready:
		return ServerReady
	case m.UserID != nil && m.Online != nil && *m.UserID > 0:
		return ServerState
	}
	return ServerUnknown
}

// DecodeServer decodes one server message (a line without its ending, or a
// frame) into m, which it resets first. Unknown fields are ignored.
func DecodeServer(data []byte, m *ServerMessage) error {
	*m = ServerMessage{}
	return json.Unmarshal(data, m)
}
