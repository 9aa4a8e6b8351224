package shared

// Trusted friend lists (DESIGN §7): the error a client gets when it sends a
// list the deployment does not let it choose, the default KV bucket, and
// the decoder of a stored list. Kept apart from protocol.go so that the
// friends work and the gateway work do not edit the same block.

// CodeFriendsManaged: the client sent friends, but the gateway takes friend
// lists from a trusted source (--friends token or kv). Not fatal: the list
// is ignored and the session goes on with the trusted one.
const CodeFriendsManaged = "friends_managed"

// DefaultFriendsBucket is the JetStream KV bucket of trusted friend lists
// (--friends kv): key = decimal user id, value = JSON array of user ids.
const DefaultFriendsBucket = "alo_friends"

// DecodeFriendList decodes a stored friend list (a KV value, a token claim):
// one JSON array of user ids with at most max entries, the same rules as a
// hello's friends (positive integers up to MaxUserID, no fraction, exponent
// or string), space allowed around it. The result is normalized as
// NormalizeFriends does (sorted, no duplicates, without self). A bad value is
// refused whole, never cut short: errors are *ProtocolError with code
// CodeBadFriends or CodeTooManyFriends (CodeBadJSON, CodeInvalidUTF8 for
// what is not JSON).
func DecodeFriendList(data []byte, self int64, max int) ([]int64, error) {
	d := decoder{b: data}
	d.ws()
	if d.i >= len(d.b) {
		return nil, protoErr(CodeBadFriends, "a friend list must be a JSON array of user ids, not empty")
	}
	ids, err := d.friends(nil, max)
	if err != nil {
		return nil, err
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, protoErr(CodeBadJSON, "unexpected data after the friend list")
	}
	return NormalizeFriends(ids, self), nil
}
