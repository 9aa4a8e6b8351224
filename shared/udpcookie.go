package shared

// The UDP return-routability cookie (DESIGN §4, issue 10) and the limits'
// error codes. They live apart from protocol.go so that work on the decoder
// and on the limits can go on side by side.

// Error codes of the limits at the edge.
const (
	CodeTooManyConnections  = "too_many_connections"   // per source address, per gateway, or opened too fast
	CodeTooManySessions     = "too_many_sessions"      // the user has the most sessions allowed on this gateway
	CodeFriendsRateLimited  = "friends_rate_limited"   // the user changes friend lists too often; the list was kept
	CodeFriendUnionTooLarge = "friend_union_too_large" // the user's sessions' lists together name too many users
	CodeMessageTimeout      = "message_timeout"        // a message was started and not finished within the deadline
)

// KeyCookie is the member of a UDP hello that echoes the cookie the gateway
// sent, and of the gateway's reply that carries it: {"cookie": "<cookie>"}.
const KeyCookie = "cookie"

// AppendCookie appends the gateway's cookie reply, {"cookie":"<cookie>"}.
// The cookie is base64url, so it needs no escaping.
func AppendCookie(b []byte, cookie string) []byte {
	b = append(b, `{"`+KeyCookie+`":"`...)
	b = append(b, cookie...)
	return append(b, `"}`...)
}

// AppendErrorWithin appends {"error": code, "message": msg} in at most max
// bytes: the message is cut (at a character) to fit, or left out when not
// even its first character fits. It reports false, appending nothing, when
// not even {"error": code} fits: a reply to an address that has not proven it
// receives must not be larger than what came from it.
func AppendErrorWithin(b []byte, code, msg string, max int) ([]byte, bool) {
	start := len(b)
	b = append(b, `{"error":`...)
	b = appendString(b, code)
	bare := len(b)
	b = append(b, `,"message":"`...)
	if len(b)-start+3 > max { // one byte of message, the quote and the brace
		b = append(b[:bare], '}')
		if len(b)-start > max {
			return b[:start], false
		}
		return b, true
	}
	for _, r := range msg {
		mark := len(b)
		b = appendStringRune(b, r)
		if len(b)-start+2 > max {
			b = b[:mark]
			break
		}
	}
	return append(b, `"}`...), true
}
