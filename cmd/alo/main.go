// Command alo runs all of ALO in one process for development: an embedded
// NATS server, presence, and a gateway.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/presence"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "alo:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("alo", flag.ContinueOnError)
	var logFlags cli.LogFlags
	logFlags.Register(fs)
	tcp := fs.String("tcp", ":8080", "`address` for client TCP connections, JSON Lines (empty: off)")
	var transports cli.TransportFlags
	transports.Register(fs, ":8080")
	fs.Lookup("udp").Usage += "; without it, UDP listens where --tcp does"
	var httpFlags cli.HTTPFlags
	httpFlags.Register(fs, ":8081")
	natsListen := fs.String("nats-listen", "", "`address` where the embedded NATS server accepts other processes (default: in-process connections only)")
	cli.PrefixFlag(fs)
	gatewayConfig := cli.GatewayFlags(fs)
	presenceConfig := cli.PresenceFlags(fs)
	if err := cli.Parse(fs, args, "alo: ALO in one process (embedded NATS, presence and a gateway) for development"); err != nil {
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
	cli.Started(log, "alo")
	pcfg, err := presenceConfig()
	if err != nil {
		return err
	}
	if !flagSet(fs, "rebuild") {
		// Presence starts with its own NATS server, before any gateway
		// could have sessions: there is nothing to rebuild.
		pcfg.Rebuild = -1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	ns, err := startNATS(*natsListen)
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	if *natsListen != "" {
		log.Info("embedded nats listening", "url", ns.ClientURL())
	}
	connect := func(name string) (*nats.Conn, error) {
		return nats.Connect("", append(cli.NATSOptions(name, log), nats.InProcessServer(ns))...)
	}
	pnc, err := connect("alo-presence")
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer pnc.Close()
	gnc, err := connect("alo-gateway")
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer gnc.Close()

	// Presence outlives the gateway, so that the gateway's closing sessions
	// still reach the watchers attached from elsewhere.
	pctx, stopPresence := context.WithCancel(context.Background())
	defer stopPresence()
	svc, err := presence.New(pnc, log.With("component", "presence"), pcfg)
	if err != nil {
		return err
	}
	presenceDone := make(chan error, 1)
	go func() { presenceDone <- svc.Run(pctx) }()

	srv, err := gateway.New(gnc, log.With("component", "gateway"), gatewayConfig())
	if err != nil {
		return err
	}
	mux, err := cli.GatewayMux(srv, transports.WSConfig())
	if err != nil {
		return err
	}
	if !flagSet(fs, "udp") {
		// UDP and TCP share the number: --tcp alone moves both.
		transports.UDP = *tcp
	}
	clients, err := transports.Listen(log, *tcp)
	if err != nil {
		return err
	}
	err = cli.RunAll(ctx,
		func(ctx context.Context) error { return cli.ServeClients(ctx, srv, clients) },
		func(ctx context.Context) error { return cli.ServeHTTP(ctx, log, httpFlags.Addr, mux) })
	pnc.Flush()
	stopPresence()
	return errors.Join(err, <-presenceDone)
}

// flagSet reports whether a flag was given, on the command line or in the
// environment.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	_, env := os.LookupEnv(cli.EnvName(name))
	return set || env
}

// startNATS starts the embedded NATS server, listening on addr if it is set.
func startNATS(addr string) (*server.Server, error) {
	opts := &server.Options{ServerName: "alo-dev", NoSigs: true, NoLog: true, DontListen: addr == ""}
	if addr != "" {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("--nats-listen: %w", err)
		}
		opts.Host = host
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("--nats-listen: bad port %q", port)
		}
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server did not start")
	}
	return ns, nil
}
