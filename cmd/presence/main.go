// Command presence keeps who is online and tells watchers when friends come
// and go. Gateways reach it through NATS.
package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/presence"
)

func main() {
	cli.Main(cli.Command{Name: "presence", Summary: "presence: ALO's who-is-online service", Flags: flags})
}

func flags(fs *flag.FlagSet) func(context.Context, *slog.Logger, string) error {
	var bus cli.NATSFlags
	bus.Register(fs)
	cli.PrefixFlag(fs)
	config := cli.PresenceFlags(fs)
	debug := cli.DebugFlag(fs)
	return func(ctx context.Context, log *slog.Logger, httpAddr string) error {
		cfg, err := config()
		if err != nil {
			return err
		}
		nc, err := bus.Connect(ctx, "alo-presence", log)
		if err != nil {
			return err
		}
		defer nc.Close()
		svc, err := presence.New(nc, log, cfg)
		if err != nil {
			return err
		}
		return cli.RunAll(ctx, svc.Run, func(ctx context.Context) error {
			return cli.ServeHTTP(ctx, log, httpAddr, cli.HealthMux(cli.Health{Ready: svc.Ready, Stats: cli.DebugStats(*debug, svc.Stats)}))
		})
	}
}
