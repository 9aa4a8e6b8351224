package shared

import "bytes"

// AppendPush appends the client message {"push":payload}, which carries a
// backend's message to a user's sessions (DESIGN §7, §8). payload is written
// as given: check it with ValidPushPayload first.
func AppendPush(b []byte, payload []byte) []byte {
	b = append(b, `{"push":`...)
	b = append(b, payload...)
	return append(b, '}')
}

// ValidPushPayload reports whether data may be sent to clients as the payload
// of a push: exactly one JSON object, from its first byte to its last (no
// space around it), valid UTF-8 throughout, at most 32 levels of objects
// and arrays inside it (maxDepth, as for client messages), no
// longer than max bytes, and without a raw line break (CR or LF) anywhere,
// since on TCP and UDP a line break ends a message. The bus is untrusted, so
// the gateway checks every payload before it touches a session. It uses the
// client decoder's validator, which does not allocate on valid input.
func ValidPushPayload(data []byte, max int) bool {
	if len(data) < 2 || len(data) > max || data[0] != '{' || data[len(data)-1] != '}' {
		return false
	}
	if bytes.IndexByte(data, '\n') >= 0 || bytes.IndexByte(data, '\r') >= 0 {
		return false
	}
	d := decoder{b: data}
	return d.skip(0) == nil && d.i == len(data)
}
