// Package gateway terminates client connections, speaks the client protocol
// over TCP (JSON Lines, tcp.go), WebSocket (one message per text frame,
// ws.go) and UDP (one message per datagram, udp.go), and connects sessions to
// presence through NATS.
//
// Serve (serve.go) owns the gateway's whole lifecycle: it starts the NATS
// side, serves the listeners it is given and the WebSocket handler's
// connections, and at shutdown tells every client why, gives writers a
// short grace, closes what is left, and returns once every goroutine it
// started has ended.
//
// Sessions are the same whatever the transport (session.go). Every
// transport's connection becomes a session through one handshake, hello
// (hello.go), and ends with one vocabulary, disconnect (disconnect.go): the
// reason, the error the client is told, the WebSocket close code. Each
// session has a reader (the connection's goroutine, which decodes and
// validates what the client sends) and a writer with a bounded queue of
// bytes: a client that stops reading is disconnected when its queue fills,
// never waited on. Session events (open, friend-list update, close) go to
// presence through one publisher goroutine, which batches whatever is waiting
// and keeps them in order; it also sends a heartbeat with the size and digest
// of the session set, and resends every session when presence asks.
//
// Notifications arrive on per-user subjects, one subscription per user with a
// session here. All subscriptions feed one channel read by one dispatcher, so
// there is no goroutine per subscription, and messages from presence keep the
// order presence sent them in: a session's snapshot and ready are on the
// gateway's own subject, its live updates on its user's subject, and the
// dispatcher drops user updates that reach a session before its ready (its
// snapshot, computed later, already covers them).
//
// A gateway's id must be unique among running gateways: before it publishes
// anything it checks that no other run serves under the id, and stands down
// if one does (claim.go).
package gateway
