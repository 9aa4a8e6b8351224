package shared

// Trusted friend lists (DESIGN §7): the error a client gets when it sends a
// list the deployment does not let it choose. Kept apart from protocol.go so
// that the friends work and the gateway work do not edit the same block.

// CodeFriendsManaged: the client sent friends, but the gateway takes friend
// lists from a trusted source (--friends token or kv). Not fatal: the list
// is ignored and the session goes on with the trusted one.
const CodeFriendsManaged = "friends_managed"
