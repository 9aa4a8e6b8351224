// Package client speaks the ALO client protocol (DESIGN §1) from the user's
// side: it dials a gateway, sends the hello with the current friend list,
// decodes what the server sends into Events, and reconnects with backoff and
// jitter when the connection drops, re-sending the hello with the friend list
// as it is then.
//
// The transport is behind the small Conn interface so the same Client runs
// over TCP JSON Lines and over WebSocket, chosen by the address's scheme
// (see Dial). Roster turns the event stream into the state a user
// sees: which friends are online, and since when.
//
// The terminal client cmd/alo-client is a thin shell around this package;
// tests and tools use it directly.
package client
