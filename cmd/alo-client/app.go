package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/alo-presence/alo/client"
)

// errUsage marks bad command-line arguments (exit status 2).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// options are the command-line flags.
type options struct {
	user       int64
	friends    []int64
	addr       string
	color      bool
	noInput    bool
	verbose    bool
	minBackoff time.Duration
	maxBackoff time.Duration
}

func parseFlags(args []string, stderr io.Writer, tty bool) (options, error) {
	fs := flag.NewFlagSet("alo-client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "your user id (required), a positive integer")
	friends := fs.String("friends", "", "friend ids, comma-separated, e.g. 2,3")
	addr := fs.String("addr", "localhost:8080", "gateway: host:port or tcp://host:port (TCP JSON Lines), ws://host:port/ws (WebSocket)")
	color := fs.String("color", "auto", "colour output: auto (when stdout is a terminal and NO_COLOR is unset), always, never")
	noInput := fs.Bool("no-input", false, "ignore stdin (watch only; stop with Ctrl-C); by default end of stdin logs out")
	verbose := fs.Bool("v", false, "log connection details to stderr")
	minBackoff := fs.Duration("min-backoff", 250*time.Millisecond, "first reconnect delay")
	maxBackoff := fs.Duration("max-backoff", 10*time.Second, "longest reconnect delay")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: alo-client --user 1 --friends 2,3 [--addr localhost:8080]")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\ncommands on stdin:\n"+helpText)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return options{}, err // usage already printed; exit 0
		}
		return options{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *minBackoff <= 0 || *maxBackoff < *minBackoff {
		return options{}, fmt.Errorf("%w: --min-backoff must be greater than 0 and --max-backoff at least as long", errUsage)
	}
	o := options{addr: *addr, noInput: *noInput, verbose: *verbose, minBackoff: *minBackoff, maxBackoff: *maxBackoff}
	if *user == "" {
		fs.Usage()
		return options{}, fmt.Errorf("%w: --user is required", errUsage)
	}
	var err error
	if o.user, err = client.ParseID(*user); err != nil {
		return options{}, fmt.Errorf("%w: --user: %w", errUsage, err)
	}
	if o.friends, err = client.ParseIDs(*friends); err != nil {
		return options{}, fmt.Errorf("%w: --friends: %w", errUsage, err)
	}
	switch *color {
	case "auto":
		o.color = tty && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	case "always":
		o.color = true
	case "never":
		o.color = false
	default:
		return options{}, fmt.Errorf("%w: --color must be auto, always or never", errUsage)
	}
	return o, nil
}

// run is the whole program. Cancelling ctx (a signal) logs out; stop is
// called then so that a second signal gets the default handling.
func run(ctx context.Context, stop func(), args []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) error {
	o, err := parseFlags(args, stderr, tty)
	if err != nil {
		return err
	}
	logLevel := slog.LevelWarn
	if o.verbose {
		logLevel = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))

	c, err := client.New(client.Config{
		Addr:       o.addr,
		UserID:     o.user,
		Friends:    o.friends,
		MinBackoff: o.minBackoff,
		MaxBackoff: o.maxBackoff,
	}, log)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}

	// Run gets its own context: a signal asks for a logout, which needs
	// the connection to stay up long enough to send it.
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(runCtx) }()

	ui := newDisplay(stdout, o.color, c.UserID(), o.addr, c.Friends())
	ui.intro(!o.noInput && tty)

	var lines <-chan string
	if !o.noInput {
		done := make(chan struct{})
		defer close(done)
		lines = readLines(stdin, done)
	}
	sig := ctx.Done()
	quitting := false
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				err := <-runErr
				ui.finished(err)
				return err
			}
			ui.event(ev)
		case line, ok := <-lines:
			if !ok {
				// End of input: like typing quit, so `echo ... | alo-client`
				// and Ctrl-D both end cleanly.
				lines = nil
				if quitting {
					continue
				}
				line = "quit"
			}
			if execute(line, c, ui) {
				quitting = true
			}
		case <-sig:
			sig = nil
			stop()
			if quitting {
				continue
			}
			quitting = true
			ui.note("signal: logging out")
			if err := c.Logout(); err != nil {
				log.Warn("logout", "err", err)
			}
		}
	}
}

// readLines feeds r's lines to a channel, closed at end of input, until
// done is closed. The goroutine may outlive run while blocked in Read on a
// terminal; the process is exiting then anyway.
func readLines(r io.Reader, done <-chan struct{}) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case ch <- strings.TrimSpace(sc.Text()):
			case <-done:
				return
			}
		}
	}()
	return ch
}
