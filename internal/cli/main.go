package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Command describes one of ALO's binaries for Main.
type Command struct {
	Name    string
	Summary string // first line of --help
	// HTTP is the default of --http ("" for off).
	HTTP string
	// Flags registers the binary's own flags on fs and returns what runs it
	// once they are parsed, until ctx is done (SIGINT or SIGTERM). http is
	// the --http address.
	Flags func(fs *flag.FlagSet) func(ctx context.Context, log *slog.Logger, http string) error
}

// Main runs a binary: it parses the flags (each also read from its ALO_*
// variable), answers --help, --version and --health-probe, builds the
// logger, and runs the command until SIGINT or SIGTERM, or until something
// in the background calls Fail. On an error it prints it and exits with
// status 1.
func Main(c Command) {
	if err := runMain(c, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
		os.Exit(1)
	}
}

func runMain(c Command, args []string) error {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	var logFlags LogFlags
	logFlags.Register(fs)
	var httpFlags HTTPFlags
	httpFlags.Register(fs, c.HTTP)
	run := c.Flags(fs)
	if err := Parse(fs, args, c.Summary); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if httpFlags.Probe != "" {
		return RunProbe(httpFlags.Probe)
	}
	log, err := logFlags.Logger(os.Stderr)
	if err != nil {
		return err
	}
	Started(log, c.Name)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, failed := WithFail(ctx)
	ctx = withHTTPTimeouts(ctx, httpFlags)
	err = run(ctx, log, httpFlags.Addr)
	return errors.Join(failed(), err)
}
