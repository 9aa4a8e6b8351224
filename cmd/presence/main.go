// Command presence keeps who is online and tells watchers when friends come
// and go. Gateways reach it through NATS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/presence"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "presence:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("presence", flag.ContinueOnError)
	var logFlags cli.LogFlags
	logFlags.Register(fs)
	var httpFlags cli.HTTPFlags
	httpFlags.Register(fs, "")
	natsURL := fs.String("nats", "nats://127.0.0.1:4222", "NATS server `URLs`, comma-separated")
	cli.PrefixFlag(fs)
	config := cli.PresenceFlags(fs)
	if err := cli.Parse(fs, args, "presence: ALO's who-is-online service"); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if httpFlags.Probe != "" {
		return cli.RunProbe(httpFlags.Probe)
	}
	log, err := logFlags.Logger(os.Stderr)
	if err != nil {
		return err
	}
	cli.Started(log, "presence")
	cfg, err := config()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	nc, err := cli.Connect(*natsURL, "alo-presence", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	svc, err := presence.New(nc, log, cfg)
	if err != nil {
		return err
	}
	return cli.RunAll(ctx, svc.Run, func(ctx context.Context) error {
		return cli.ServeHTTP(ctx, log, httpFlags.Addr, cli.HealthMux(svc.Ready, svc.Stats))
	})
}
