// Package presence keeps who is online and who watches whom, and tells
// watchers when a friend comes online or goes offline.
//
// Gateways are the source of truth for sessions. Presence consumes their
// session events from NATS, in order per gateway, and keeps:
//
//   - sessions per gateway, keyed by session id, so a repeated or late event
//     does no harm;
//   - the online users with their friend lists;
//   - the reverse index: for each user X, the online users whose friend list
//     contains X (X's watchers).
//
// A user is online while any gateway holds a session of theirs. Each
// offline→online and online→offline transition is published once to each
// watcher's user subject; new sessions get a snapshot of their online friends
// on their gateway's subject, which the gateway follows with ready.
//
// Presence can lose its state at any time: when it starts it announces itself,
// every gateway resends its sessions, and for a rebuild window it collects
// them without notifying anyone, then sends each session only the corrections
// it needs. Gateways renew a lease with heartbeats that carry a digest of
// their session sets; a gateway that misses its lease is expired and its users
// go offline, and a digest that disagrees makes presence ask for a resend.
//
// The state is in two parts: the index (index.go: users, friends, watchers,
// transitions) and the ledger (ledger.go: each gateway's sessions, digest,
// lease, resyncs, and the rebuild, whose rule is written once there). Only
// the ledger decides when a session is told anything.
//
// Each user also has a status (DESIGN §2): the one set last, by its
// gateway's stamp, among the user's open sessions, so it is rebuilt from the
// resends like the friend lists. Watchers see a user online while they are
// online and not invisible; going invisible and leaving take one path
// (index.hide), as do coming online and leaving invisible (index.show).
// Status changes of a visible user are damped per user, with one heap and
// one timer in the service's goroutine; last seen is kept in a
// LastSeenStore.
//
// One presence serves a prefix. A second one finds the first through their
// announcements, logs an error and stands by until the first is gone. What
// presence accepts from the bus is bounded (Config), so that garbage on an
// open bus costs bounded memory.
package presence
