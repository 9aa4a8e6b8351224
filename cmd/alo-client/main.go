// Command alo-client is a terminal client for ALO: it signs in as a user,
// shows the user's friends going online and offline as it happens, and
// takes commands on stdin to change the friend list or log out. It
// reconnects with backoff when the gateway goes away.
//
//	alo-client --user 1 --friends 2,3 [--addr localhost:8080]
//
// On a terminal the output is coloured; otherwise it is one plain,
// greppable line per event, so scripts and tests can read it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// The first Ctrl-C or SIGTERM logs out cleanly; run restores the
	// default handling after it, so a second one kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, stop, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, isTerminal(os.Stdout))
	if code := exitCode(err); err != nil && code != 0 {
		fmt.Fprintln(os.Stderr, "alo-client:", err)
		os.Exit(code)
	}
}

// isTerminal reports whether f is a character device, which is what a
// terminal looks like; good enough for choosing colour without a
// dependency.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
