// Command alo runs all of ALO in one process for development: an embedded
// NATS server, presence, and a gateway.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/internal/devnats"
	"github.com/alo-presence/alo/presence"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "token" { // a subcommand: token.go
		os.Exit(tokenMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	cli.Main(cli.Command{
		Name:    "alo",
		Summary: "alo: ALO in one process (embedded NATS, presence and a gateway) for development",
		HTTP:    ":8081",
		Flags:   flags,
	})
}

func flags(fs *flag.FlagSet) func(context.Context, *slog.Logger, string) error {
	tcp := fs.String("tcp", ":8080", "`address` for client TCP connections, JSON Lines (empty: off)")
	var transports cli.TransportFlags
	transports.Register(fs, ":8080")
	fs.Lookup("udp").Usage += "; without it, UDP listens where --tcp does"
	natsListen := fs.String("nats-listen", "", "`address` where the embedded NATS server accepts other processes, with a token it prints or --nats-config's credentials; a bare port means 127.0.0.1 (default: in-process connections only)")
	natsConfig := fs.String("nats-config", "", "nats-server configuration `file` for the embedded NATS (authorization, accounts, TLS, listen); it must require credentials, and alo's own presence and gateway log in with --nats-creds, --nats-nkey, --nats-user or --nats-token-file")
	var creds cli.NATSFlags
	creds.RegisterCredentials(fs)
	fs.Lookup("nats-token-file").Usage = "`file` with the token --nats-listen requires; if there is no such file, alo writes the token it makes up there (default: " + cli.EnvNATSToken + ", else a new token each start)"
	cli.PrefixFlag(fs)
	gatewayConfig := cli.GatewayFlags(fs)
	presenceConfig := cli.PresenceFlags(fs)
	var edge cli.EdgeFlags
	edge.Register(fs, true)
	debug := cli.DebugFlag(fs)
	var friendsFlags cli.FriendsFlags
	friendsFlags.Register(fs, true)
	dataDir := fs.String("data", "", "`directory` where alo keeps state across restarts: the JetStream store of --friends kv (default: a temporary directory, removed at exit)")
	return func(ctx context.Context, log *slog.Logger, httpAddr string) error {
		pcfg, err := presenceConfig()
		if err != nil {
			return err
		}
		if !flagSet(fs, "rebuild") {
			// Presence starts with its own NATS server, before any gateway
			// could have sessions: there is nothing to rebuild.
			pcfg.Rebuild = -1
		}
		if !flagSet(fs, "udp") {
			// UDP and TCP share the number: --tcp alone moves both.
			transports.UDP = *tcp
		}
		gcfg := gatewayConfig()
		e, err := edge.Setup(log, &gcfg)
		if err != nil {
			return err
		}
		bus, err := natsSetup(*natsListen, *natsConfig, creds)
		if err != nil {
			return err
		}
		reg := cli.NewRegistry()
		pcfg.Metrics, gcfg.Metrics, transports.Metrics = reg, reg, reg
		if gcfg.Friends == gateway.FriendsKV {
			if !bus.opts.JetStream { // --nats-config may have set it up already
				cleanup, err := devnats.EnableJetStream(bus.opts, *dataDir)
				if err != nil {
					return err
				}
				defer cleanup() // after run, which waits for the server's shutdown
			}
			bus.friends = &friendsFlags
		}
		return run(ctx, log, bus, pcfg, gcfg, func(ctx context.Context, srv *gateway.Server) error {
			return transports.Serve(ctx, log, srv, e, *debug, *tcp, httpAddr)
		})
	}
}

// run starts the embedded NATS server and presence, then serves the gateway
// until ctx is done. Presence outlives the gateway, so that the gateway's
// closing sessions still reach watchers attached from elsewhere.
func run(ctx context.Context, log *slog.Logger, bus *devNATS, pcfg presence.Config, gcfg gateway.Config,
	serve func(context.Context, *gateway.Server) error) error {
	ns, err := startNATS(bus.opts)
	if err != nil {
		return err
	}
	defer ns.WaitForShutdown() // the JetStream store is written out before it is removed
	defer ns.Shutdown()
	if !bus.opts.DontListen {
		log.Info("listening", "for", "nats", "addr", ns.ClientURL())
		bus.announce(os.Stderr, ns.ClientURL())
	}
	connect := func(name string) (*nats.Conn, error) {
		nc, err := bus.creds.ConnectWith(ctx, name, log, append(bus.client, nats.InProcessServer(ns))...)
		if errors.Is(err, io.ErrClosedPipe) {
			// The server closes an in-process connection it refuses
			// before its -ERR can be read (after its write_deadline,
			// as the pipe has no buffer); nothing else closes it there.
			err = fmt.Errorf("%w: %s was refused by the embedded NATS: check --nats-creds, --nats-nkey, --nats-user and --nats-password-file, or --nats-token-file against --nats-config (%w)",
				cli.ErrNATSLogin, name, err)
		}
		return nc, err
	}
	pnc, err := connect("alo-presence")
	if err != nil {
		return err
	}
	defer pnc.Close()
	gnc, err := connect("alo-gateway")
	if err != nil {
		return err
	}
	defer gnc.Close()

	svc, err := presence.New(pnc, log.With("component", "presence"), pcfg)
	if err != nil {
		return err
	}
	if bus.friends != nil {
		if err := bus.friends.Open(ctx, gnc, &gcfg, log); err != nil {
			return err
		}
	}
	srv, err := gateway.New(gnc, log.With("component", "gateway"), gcfg)
	if err != nil {
		return err
	}
	pctx, stopPresence := context.WithCancel(context.Background())
	defer stopPresence()
	presenceDone := make(chan error, 1)
	go func() { presenceDone <- svc.Run(pctx) }()

	err = serve(ctx, srv)
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

// startNATS starts the embedded NATS server.
func startNATS(opts *server.Options) (*server.Server, error) {
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
