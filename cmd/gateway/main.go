// Command gateway accepts client connections and connects them to presence
// through NATS. Run as many as the connections need.
package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/cli"
)

func main() {
	cli.Main(cli.Command{Name: "gateway", Summary: "gateway: ALO's client-facing server", Flags: flags})
}

func flags(fs *flag.FlagSet) func(context.Context, *slog.Logger, string) error {
	tcp := fs.String("tcp", ":8080", "`address` for client TCP connections, JSON Lines (empty: off)")
	var transports cli.TransportFlags
	transports.Register(fs, "")
	var bus cli.NATSFlags
	bus.Register(fs)
	cli.PrefixFlag(fs)
	config := cli.GatewayFlags(fs)
	var edge cli.EdgeFlags
	edge.Register(fs, false)
	debug := cli.DebugFlag(fs)
	var friendsFlags cli.FriendsFlags
	friendsFlags.Register(fs, false)
	return func(ctx context.Context, log *slog.Logger, httpAddr string) error {
		cfg := config()
		reg := cli.NewRegistry()
		cfg.Metrics, transports.Metrics = reg, reg
		// Compose replicas share one environment: {replica} gives each
		// its own id and NATS user (deploy/nats.conf's gw-1 … gw-10).
		if err := cli.ExpandReplica(ctx, &cfg.ID, &bus.User, &bus.PasswordFile); err != nil {
			return err
		}
		// Keys and certificate first: a gateway that cannot check tokens
		// must not start, before it ever touches NATS.
		e, err := edge.Setup(log, &cfg)
		if err != nil {
			return err
		}
		nc, err := bus.Connect(ctx, "alo-gateway "+cfg.ID, log)
		if err != nil {
			return err
		}
		defer nc.Close()
		if err := friendsFlags.Open(ctx, nc, &cfg, log); err != nil {
			return err
		}
		srv, err := gateway.New(nc, log, cfg)
		if err != nil {
			return err
		}
		return transports.Serve(ctx, log, srv, e, *debug, *tcp, httpAddr)
	}
}
