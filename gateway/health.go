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
// of a gateway holds its id (claim.go), and presence answers. Every check
// that fails is in the error (errors.Join), so /readyz can list them.
func (srv *Server) Ready(ctx context.Context) error {
	var failing []error
	if !srv.serving() {
		failing = append(failing, errNotServing)
	}
	if err := srv.claim.refusal(); err != nil {
		failing = append(failing, err)
	}
	if !srv.nc.IsConnected() {
		failing = append(failing, errNATSDown)
	} else if _, err := srv.nc.RequestWithContext(ctx, srv.subjects.PresencePing(), nil); err != nil {
		failing = append(failing, fmt.Errorf("gateway: presence does not answer: %w", err))
	}
	return errors.Join(failing...)
}
