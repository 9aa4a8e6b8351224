package gateway

import (
	"context"
	"errors"
	"fmt"
)

// Readiness failures.
var (
	errNotServing = errors.New("gateway: not serving")
	errNATSDown   = errors.New("gateway: not connected to nats")
)

// Ready reports whether the gateway can serve sessions: Serve is serving
// (not starting, not shutting down), it is connected to NATS, no other run
// of a gateway holds its id (claim.go), and presence
// answers.
func (srv *Server) Ready(ctx context.Context) error {
	if !srv.serving() {
		return errNotServing
	}
	if !srv.nc.IsConnected() {
		return errNATSDown
	}
	if err := srv.claim.refusal(); err != nil {
		return err
	}
	if _, err := srv.nc.RequestWithContext(ctx, srv.subjects.PresencePing(), nil); err != nil {
		return fmt.Errorf("gateway: presence does not answer: %w", err)
	}
	return nil
}
