package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/web"
)

// TransportFlags are a gateway's client transports besides --tcp: UDP, and
// the WebSocket served on --http.
type TransportFlags struct {
	UDP        string
	UDPIdle    time.Duration
	PublicURLs string
	WSOrigins  string
	WSPing     time.Duration
	// Metrics, if set, is served at /metrics on the HTTP address.
	Metrics prometheus.Gatherer
}

// Register adds --udp (with the given default), --udp-idle, --ws-origins and
// --ws-ping to fs.
func (f *TransportFlags) Register(fs *flag.FlagSet, udpDefault string) {
	fs.StringVar(&f.UDP, "udp", udpDefault, "`address` for client UDP datagrams, one JSON message each (empty: off)")
	f.UDPIdle, f.WSPing = gateway.DefaultUDPIdleTimeout, gateway.DefaultWSPing
	PositiveVar(fs, &f.UDPIdle, "udp-idle", "silence after which a UDP session ends")
	fs.StringVar(&f.PublicURLs, "public-url", "", "`URLs` the gateway's page is published at (https://alo.example.com), comma-separated: browsers from there may use /ws (a page on localhost at the --http port always may)")
	fs.StringVar(&f.WSOrigins, "ws-origins", "", "further browser `origins` allowed on /ws, comma-separated host patterns (example.com, *.example.com, localhost:*) or * for any")
	PositiveVar(fs, &f.WSPing, "ws-ping", "how often WebSocket clients are pinged; one silent for twice as long is disconnected")
}

// WSConfig returns the WebSocket settings the flags ask for.
func (f *TransportFlags) WSConfig() gateway.WSConfig {
	return gateway.WSConfig{PublicURLs: splitList(f.PublicURLs), Origins: splitList(f.WSOrigins), Ping: f.WSPing}
}

func splitList(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// UDPConfig returns the UDP settings the flags ask for.
func (f *TransportFlags) UDPConfig() gateway.UDPConfig {
	return gateway.UDPConfig{IdleTimeout: f.UDPIdle}
}

// Listen opens a gateway's client sockets: TCP on tcp, UDP on f.UDP; an
// empty address is off.
func (f *TransportFlags) Listen(log *slog.Logger, tcp string) (gateway.Listeners, error) {
	ls := gateway.Listeners{UDPConfig: f.UDPConfig()}
	var err error
	if tcp != "" {
		if ls.TCP, err = Listen(log, "clients", tcp); err != nil {
			return gateway.Listeners{}, err
		}
	}
	if f.UDP != "" {
		if ls.UDP, err = ListenUDP(log, f.UDP); err != nil {
			if ls.TCP != nil {
				ls.TCP.Close()
			}
			return gateway.Listeners{}, err
		}
	}
	return ls, nil
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

// GatewayMux is what a gateway serves over HTTP: health (HealthMux, with
// h.Ready the gateway's own when unset), the demo page at /, and the
// WebSocket endpoint at /ws.
func GatewayMux(srv *gateway.Server, ws gateway.WSConfig, h Health) (*http.ServeMux, error) {
	wsHandler, err := srv.WebSocket(ws)
	if err != nil {
		return nil, err
	}
	if h.Ready == nil {
		h.Ready = srv.Ready
	}
	mux := HealthMux(h)
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
// flags ask for, and HTTP (health, the page, /ws) on httpAddr, both over
// TLS when edge has a certificate (UDP stays plain: it has no TLS), while
// edge follows its key and certificate files. With debug, /debug shows the
// gateway's counts.
func (f *TransportFlags) Serve(ctx context.Context, log *slog.Logger, srv *gateway.Server, edge *Edge, debug bool, tcp, httpAddr string) error {
	mux, err := GatewayMux(srv, f.WSConfig(), Health{
		Warnings: edge.Warnings,
		Stats:    DebugStats(debug, func() any { return srv.Stats() }),
	})
	if err != nil {
		return err
	}
	HandleMetrics(mux, f.Metrics)
	ls, err := f.Listen(log, tcp)
	if err != nil {
		return err
	}
	ls.TLS = edge.TLSConfig()
	return RunAll(ctx,
		func(ctx context.Context) error { return srv.Serve(ctx, ls) },
		func(ctx context.Context) error {
			return ServeHTTPS(WithHTTPListener(ctx, srv.LimitListener), log, httpAddr, mux, edge.TLSConfig())
		},
		edge.Run)
}
