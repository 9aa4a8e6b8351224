// Command alo-bench loads a running ALO over the real client protocol and
// measures it beside the machine's own ceilings.
//
//	alo-bench smoke      --addr 127.0.0.1:8080     # a few seconds; exit 1 unless zero lost and duplicated
//	alo-bench latency    --server-cmd 'alo --tcp {addr}'
//	alo-bench throughput --server-cmd 'alo --tcp {addr}'
//	alo-bench hotuser    --addr 127.0.0.1:8080
//	alo-bench idle       --addr 127.0.0.1:8080
//	alo-bench storm      --server-cmd 'alo --tcp {addr}'
//
// Every figure is measured in the run that prints it. The tool re-executes
// itself as worker processes when one process's file limit would bind.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alo-presence/alo/internal/bench"
)

func main() {
	// A re-executed child is a worker or the bare server, not a new run.
	switch {
	case os.Getenv(bench.WorkerEnv) != "":
		if err := bench.ServeWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "alo-bench worker:", err)
			os.Exit(1)
		}
		return
	case os.Getenv(bench.BareEnv) != "":
		if err := bench.ServeBare(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "alo-bench bare server:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// listFlag collects a repeatable or comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

const usage = `usage: alo-bench SCENARIO [flags]

scenarios:
  smoke       small and short; exits 1 unless zero lost, duplicated or spurious (CI)
  latency     10k users, 20 friends, 2k churn events/s: connect→notified p50/p99/p99.9
  throughput  raise churn until p99 passes 50ms: notifications/s delivered
  hotuser     a user with 5,000 online watchers connects and leaves: time to the last watcher
  idle        as many connections as the gateway holds, 10 friends each: RSS per connection
  storm       kill the gateway holding ~19k clients; all reconnect at once: time to all ready

Flags left at zero take the scenario's defaults.
`

func run(ctx context.Context, args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	o := bench.Options{Scenario: args[0]}
	fs := flag.NewFlagSet("alo-bench "+args[0], flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, usage+"\nflags:\n")
		fs.PrintDefaults()
	}
	var addrs, pids listFlag
	var graph, closeMode string
	var jsonOut, quiet bool
	fs.Var(&addrs, "addr", "gateway address to load, repeatable (loopback only; default 127.0.0.1:8080, or a free port with --server-cmd)")
	fs.StringVar(&o.ServerCmd, "server-cmd", "", "start ALO with this shell command, {addr} and {port} filled in; the tool measures, kills (storm) and restarts it")
	fs.Var(&pids, "pid", "process to measure for RSS and CPU, repeatable (default: the one listening on each --addr)")
	fs.IntVar(&o.Users, "users", 0, "users in the run")
	fs.IntVar(&o.Friends, "friends", 0, "friends per user")
	fs.StringVar(&graph, "graph", "", "friend graph: uniform or powerlaw")
	fs.Float64Var(&o.ZipfS, "zipf", 0, "power-law exponent (> 1; default 1.2)")
	fs.Float64Var(&o.Rate, "rate", 0, "churn events (connects + disconnects) per second; throughput: the first step")
	fs.DurationVar(&o.Duration, "duration", 0, "measured churn")
	fs.DurationVar(&o.Warmup, "warmup", 0, "churn before measuring")
	fs.DurationVar(&o.Deadline, "deadline", 0, "a notification not received this long after its cause is lost (default 1s; throughput 500ms)")
	fs.DurationVar(&o.Cooldown, "cooldown", 0, "least rest between one user's sessions (default deadline × 1.25)")
	fs.DurationVar(&o.Settle, "settle", 0, "quiet time before the final check")
	fs.StringVar(&closeMode, "close", "", "how the tool ends sessions: logout, close or mix (default)")
	fs.IntVar(&o.Workers, "workers", 0, "worker processes (default: enough for --per-worker)")
	fs.IntVar(&o.PerWorker, "per-worker", 0, "sockets one worker process may hold (default 15000; the file limit is 20,000)")
	fs.IntVar(&o.Sources, "sources", 0, "source addresses 127.0.0.1..N (default max(4, sockets/20000))")
	fs.Uint64Var(&o.Seed, "seed", 0, "random seed (default random; printed)")
	fs.Int64Var(&o.UserBase, "user-base", 0, "id of the run's first user (default random)")
	fs.StringVar(&o.Ceilings, "ceilings", "auto", "measure the machine's ceilings: auto, on or off")
	fs.DurationVar(&o.StepDur, "step", 0, "throughput: length of each rate step")
	fs.Float64Var(&o.StepFactor, "step-factor", 0, "throughput: rate multiplier per step")
	fs.Float64Var(&o.MaxRate, "max-rate", 0, "throughput: highest rate to try")
	fs.DurationVar(&o.P99Limit, "p99-limit", 0, "throughput: stop when p99 passes this")
	fs.IntVar(&o.Watchers, "watchers", 0, "hotuser: online watchers of the hot user")
	fs.IntVar(&o.Cycles, "cycles", 0, "hotuser: connect/leave cycles")
	fs.IntVar(&o.Conns, "conns", 0, "idle, storm: connections to hold")
	fs.DurationVar(&o.RestartWait, "restart-wait", 0, "storm: how long the gateway may take to listen again")
	fs.BoolVar(&jsonOut, "json", false, "print the result as JSON instead of a table")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "alo-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := positiveFlags(fs); err != nil {
		fmt.Fprintln(os.Stderr, "alo-bench:", err)
		return 2
	}
	o.Addrs = addrs
	o.Graph = bench.GraphKind(graph)
	o.Close = bench.CloseMode(closeMode)
	for _, p := range pids {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "alo-bench: --pid %q is not a process id\n", p)
			return 2
		}
		o.Pids = append(o.Pids, n)
	}
	if !quiet {
		o.Progress = os.Stderr
	}
	res, err := bench.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "alo-bench:", err)
		return 2
	}
	if jsonOut {
		err = res.WriteJSON(os.Stdout)
	} else {
		err = res.WriteTable(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "alo-bench:", err)
		return 2
	}
	switch {
	case len(res.Errors) > 0:
		return 2 // the run itself broke off
	case !res.Pass:
		return 1
	}
	return 0
}

// positiveFlags refuses a number given as 0 or less. Every number flag here
// is a size, count, rate or duration whose zero stands for the scenario's
// default (for --seed and --user-base, a random one), so a --users 0 would
// silently mean 10,000: as with the gateway's limits, the way to the
// default is to leave the flag out.
func positiveFlags(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok || err != nil {
			return
		}
		var positive bool
		switch v := g.Get().(type) {
		case int:
			positive = v > 0
		case int64:
			positive = v > 0
		case uint64:
			positive = v > 0
		case float64:
			positive = v > 0
		case time.Duration:
			positive = v > 0
		default:
			return
		}
		if !positive {
			err = fmt.Errorf("--%s %s: must be greater than 0 (leave the flag out for the scenario's default)", f.Name, f.Value)
		}
	})
	return err
}
