// Package cli holds what ALO's binaries share: flags that also read ALO_*
// environment variables, the logger, the NATS connection options, and the
// flags for gateway and presence settings.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/lmittmann/tint"
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/shared"
)

// EnvName returns the environment variable that sets flag name:
// "nats-listen" is ALO_NATS_LISTEN.
func EnvName(name string) string {
	return "ALO_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args, then sets each flag not given on the command line from
// its environment variable, if that is set. Flags win over the environment.
// Usage lists the variables too.
func Parse(fs *flag.FlagSet, args []string, summary string) error {
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\nUsage: %s [flags]\n\nFlags (each also read from the environment variable shown):\n", summary, fs.Name())
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			if t, ok := f.Value.(interface{ TypeName() string }); ok && name == "value" {
				name = t.TypeName()
			}
			fmt.Fprintf(out, "  --%s %s\t[%s]\n    \t%s", f.Name, name, EnvName(f.Name), usage)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(out, " (default %q)", f.DefValue)
			}
			fmt.Fprintln(out)
		})
	}
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		fmt.Fprintf(os.Stdout, "%s %s (commit %s, %s)\n", fs.Name(), shared.Version, shared.Commit, runtime.Version())
		return flag.ErrHelp
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, e)
			}
		}
	})
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return err
}

// LogFlags are the logging flags every binary has.
type LogFlags struct {
	Level  string
	Format string
}

// Register adds --log-level and --log-format to fs.
func (l *LogFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&l.Level, "log-level", "info", "`level` of logs: debug, info, warn or error")
	fs.StringVar(&l.Format, "log-format", "auto", "`format` of logs: text (coloured on a terminal), json, or auto (text on a terminal, json otherwise)")
}

// Logger builds the logger the flags ask for, writing to w.
func (l *LogFlags) Logger(w *os.File) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	terminal := isTerminal(w)
	switch l.Format {
	case "auto":
		if !terminal {
			return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
		}
		fallthrough
	case "text":
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: level, TimeFormat: "15:04:05.000", NoColor: !terminal})), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text, json or auto", l.Format)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// natsErrorLogger logs NATS's asynchronous errors. A burst that overflows
// many subscriptions at once reports a slow consumer for each: those are
// logged once a second with a count, not one line each. So are refused
// logins and subjects (logRefusal).
func natsErrorLogger(log *slog.Logger) nats.ErrHandler {
	var mu sync.Mutex
	var last time.Time
	var suppressed int
	refusals := shared.NewRateLog(log, 0)
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if logRefusal(refusals, sub, err) {
			return
		}
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		if errors.Is(err, nats.ErrSlowConsumer) {
			mu.Lock()
			if time.Since(last) < time.Second {
				suppressed++
				mu.Unlock()
				return
			}
			n := suppressed
			last, suppressed = time.Now(), 0
			mu.Unlock()
			log.Warn("nats dropped messages for a slow subscription", "subject", subject, "others_since_last", n)
			return
		}
		log.Warn("nats error", "subject", subject, "err", err)
	}
}

// Started logs the build of the binary that is starting.
func Started(log *slog.Logger, name string) {
	log.Info("starting", "binary", name, "version", shared.Version, "commit", shared.Commit, "go", runtime.Version())
}

// Discard is a logger that writes nothing, for tests and tools.
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// NATSOptions are the connection options every ALO process uses: reconnect
// forever with backoff and jitter, notice a dead link within a couple of
// seconds, and make publishes fail while disconnected instead of buffering
// them, since the resync after the reconnect carries the truth anyway.
func NATSOptions(name string, log *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			// 100ms doubling to 1.6s, plus up to half again of jitter, so a
			// restarted NATS is not hit by every client at once.
			d := 100 * time.Millisecond << min(attempts, 4)
			return d + rand.N(d/2)
		}),
		nats.PingInterval(time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: we closed it
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(natsErrorLogger(log)),
	}
}
