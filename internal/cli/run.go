package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
)

// Listen opens a TCP listener and logs where it listens.
func Listen(log *slog.Logger, what, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen %s: %w", what, addr, err)
	}
	log.Info("listening", "for", what, "addr", ln.Addr().String())
	return ln, nil
}

// RunAll runs each function until ctx is done or one of them fails, which
// stops the others; it waits for all and returns their errors joined.
func RunAll(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(fns))
	for _, f := range fns {
		go func() {
			err := f(ctx)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var all []error
	for range fns {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}
