// Command gateway accepts client connections and connects them to presence
// through NATS. Run as many as the connections need.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/cli"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	var logFlags cli.LogFlags
	logFlags.Register(fs)
	tcp := fs.String("tcp", ":8080", "`address` for client TCP connections, JSON Lines (empty: off)")
	var transports cli.TransportFlags
	transports.Register(fs, "")
	var httpFlags cli.HTTPFlags
	httpFlags.Register(fs, "")
	natsURL := fs.String("nats", "nats://127.0.0.1:4222", "NATS server `URLs`, comma-separated")
	cli.PrefixFlag(fs)
	config := cli.GatewayFlags(fs)
	if err := cli.Parse(fs, args, "gateway: ALO's client-facing server"); err != nil {
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
	cli.Started(log, "gateway")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cfg := config()
	nc, err := cli.Connect(*natsURL, "alo-gateway "+cfg.ID, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	srv, err := gateway.New(nc, log, cfg)
	if err != nil {
		return err
	}
	mux, err := cli.GatewayMux(srv, transports.WSConfig())
	if err != nil {
		return err
	}
	clients, err := transports.Listen(log, *tcp)
	if err != nil {
		return err
	}
	return cli.RunAll(ctx,
		func(ctx context.Context) error { return cli.ServeClients(ctx, srv, clients) },
		func(ctx context.Context) error { return cli.ServeHTTP(ctx, log, httpFlags.Addr, mux) })
}
