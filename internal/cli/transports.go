package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/web"
)

// TransportFlags are a gateway's client transports besides --tcp: UDP, and
// the WebSocket served on --http.
type TransportFlags struct {
	UDP       string
	UDPIdle   time.Duration
	WSOrigins string
	WSPing    time.Duration
}

// Register adds --udp (with the given default), --udp-idle, --ws-origins and
// --ws-ping to fs.
func (f *TransportFlags) Register(fs *flag.FlagSet, udpDefault string) {
	fs.StringVar(&f.UDP, "udp", udpDefault, "`address` for client UDP datagrams, one JSON message each (empty: off)")
	f.UDPIdle, f.WSPing = gateway.DefaultUDPIdleTimeout, gateway.DefaultWSPing
	PositiveVar(fs, &f.UDPIdle, "udp-idle", "silence after which a UDP session ends")
	fs.StringVar(&f.WSOrigins, "ws-origins", "", "browser `origins` allowed on /ws besides the gateway's own, comma-separated host patterns (example.com, *.example.com, localhost:*) or * for any")
	PositiveVar(fs, &f.WSPing, "ws-ping", "how often WebSocket clients are pinged; one silent for twice as long is disconnected")
}

// WSConfig returns the WebSocket settings the flags ask for.
func (f *TransportFlags) WSConfig() gateway.WSConfig {
	var origins []string
	for _, o := range strings.Split(f.WSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	return gateway.WSConfig{Origins: origins, Ping: f.WSPing}
}

// UDPConfig returns the UDP settings the flags ask for.
func (f *TransportFlags) UDPConfig() gateway.UDPConfig {
	return gateway.UDPConfig{IdleTimeout: f.UDPIdle}
}

// Listen opens a gateway's client sockets: TCP on tcp, UDP on f.UDP; an
// empty address is off.
func (f *TransportFlags) Listen(log *slog.Logger, tcp string) (Clients, error) {
	c := Clients{UDPConfig: f.UDPConfig()}
	var err error
	if tcp != "" {
		if c.TCP, err = Listen(log, "clients", tcp); err != nil {
			return Clients{}, err
		}
	}
	if f.UDP != "" {
		if c.UDP, err = ListenUDP(log, f.UDP); err != nil {
			if c.TCP != nil {
				c.TCP.Close()
			}
			return Clients{}, err
		}
	}
	return c, nil
}

// ListenUDP opens a UDP socket and logs where it listens.
func ListenUDP(log *slog.Logger, addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("udp listen %s: %w", addr, err)
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("udp listen %s: %w", addr, err)
	}
	log.Info("listening", "for", "udp", "addr", pc.LocalAddr().String())
	return pc, nil
}

// Clients are the sockets a gateway serves clients on; a nil one is off.
// WebSocket clients come through the HTTP server (GatewayMux).
type Clients struct {
	TCP net.Listener
	UDP *net.UDPConn
	// UDPConfig configures UDP sessions.
	UDPConfig gateway.UDPConfig
}

// ServeClients runs a gateway with its client sockets until ctx is done, and
// returns once it has drained. A socket failure stops the gateway too.
func ServeClients(ctx context.Context, srv *gateway.Server, c Clients) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ran := make(chan error, 1)
	go func() {
		err := srv.Run(ctx)
		cancel(err) // Run returns early only when it cannot start
		ran <- err
	}()
	udp := make(chan error, 1)
	if c.UDP != nil {
		go func() {
			err := srv.ServeUDP(ctx, c.UDP, c.UDPConfig)
			if err != nil {
				cancel(err)
			}
			udp <- err
		}()
	} else {
		udp <- nil
	}
	var served error
	if c.TCP != nil {
		served = srv.ServeTCP(ctx, c.TCP)
		if served != nil {
			cancel(served)
		}
	}
	<-ctx.Done()
	return errors.Join(<-ran, served, <-udp)
}

// GatewayMux is what a gateway serves over HTTP: health (HealthMux), the
// demo page at /, and the WebSocket endpoint at /ws.
func GatewayMux(srv *gateway.Server, ws gateway.WSConfig) (*http.ServeMux, error) {
	wsHandler, err := srv.WebSocket(ws)
	if err != nil {
		return nil, err
	}
	mux := HealthMux(srv.Ready, func() any { return srv.Stats() })
	mux.Handle("GET /ws", wsHandler)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(web.Index)
	})
	return mux, nil
}

// Serve serves srv until ctx is done: clients on tcp and the transports the
// flags ask for, and HTTP (health, the page, /ws) on httpAddr.
func (f *TransportFlags) Serve(ctx context.Context, log *slog.Logger, srv *gateway.Server, tcp, httpAddr string) error {
	mux, err := GatewayMux(srv, f.WSConfig())
	if err != nil {
		return err
	}
	clients, err := f.Listen(log, tcp)
	if err != nil {
		return err
	}
	return RunAll(ctx,
		func(ctx context.Context) error { return ServeClients(ctx, srv, clients) },
		func(ctx context.Context) error { return ServeHTTP(ctx, log, httpAddr, mux) })
}
