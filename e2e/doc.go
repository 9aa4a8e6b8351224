// Package e2e tests ALO as clients see it: real TCP clients against real
// gateways and presence on a real NATS server, in one process here and as
// separate processes in process_test.go.
package e2e
