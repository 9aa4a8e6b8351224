// Package shared is the contract the gateway and presence speak: NATS
// subjects, the events and control messages that cross NATS between them, and
// the codec for the client protocol (DESIGN §1). No other package spells a
// subject or a JSON field name of the wire.
package shared
