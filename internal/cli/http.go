package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	json "github.com/goccy/go-json"
)

// HTTPFlags are the HTTP flags of every binary: where to serve health (and,
// on gateways, the page and WebSocket), and the probe mode used by container
// health checks in images without a shell.
type HTTPFlags struct {
	Addr  string
	Probe string
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers, IdleTimeout how long a kept-alive connection may
	// wait for its next request (DESIGN §4: idle HTTP connections closed).
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
}

// Defaults of --http-header-timeout and --http-idle-timeout.
const (
	DefaultHTTPReadHeaderTimeout = 5 * time.Second
	DefaultHTTPIdleTimeout       = 60 * time.Second
)

// Register adds --http (with the given default) and --health-probe to fs.
func (h *HTTPFlags) Register(fs *flag.FlagSet, def string) {
	fs.StringVar(&h.Addr, "http", def, "`address` for HTTP: /healthz, /readyz; on gateways also the demo page at / and the WebSocket at /ws (empty: off)")
	fs.StringVar(&h.Probe, "health-probe", "", "only GET this `URL` and exit 0 if it answers 200, 1 otherwise (for container health checks)")
	h.ReadHeaderTimeout, h.IdleTimeout = DefaultHTTPReadHeaderTimeout, DefaultHTTPIdleTimeout
	PositiveVar(fs, &h.ReadHeaderTimeout, "http-header-timeout", "how long an HTTP client may take to send a request's headers (and, with TLS, its handshake)")
	PositiveVar(fs, &h.IdleTimeout, "http-idle-timeout", "how long an idle kept-alive HTTP connection is kept open")
}

// httpTimeoutsKey carries the HTTP timeouts from Main to ServeHTTP.
type httpTimeoutsKey struct{}

// withHTTPTimeouts makes ServeHTTP under ctx use h's timeouts.
func withHTTPTimeouts(ctx context.Context, h HTTPFlags) context.Context {
	return context.WithValue(ctx, httpTimeoutsKey{}, [2]time.Duration{h.ReadHeaderTimeout, h.IdleTimeout})
}

// httpListenerKey carries a wrapper for ServeHTTP's listener.
type httpListenerKey struct{}

// WithHTTPListener makes ServeHTTP under ctx wrap its raw listener (before
// any TLS) with wrap: the gateway's per-source admission.
func WithHTTPListener(ctx context.Context, wrap func(net.Listener) net.Listener) context.Context {
	return context.WithValue(ctx, httpListenerKey{}, wrap)
}

// httpServer returns the server ServeHTTP runs: the timeouts are Main's
// (the defaults when ctx has none).
func httpServer(ctx context.Context, log *slog.Logger, h http.Handler) *http.Server {
	t, ok := ctx.Value(httpTimeoutsKey{}).([2]time.Duration)
	if !ok {
		t = [2]time.Duration{DefaultHTTPReadHeaderTimeout, DefaultHTTPIdleTimeout}
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: t[0], IdleTimeout: t[1],
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// RunProbe performs the --health-probe request.
func RunProbe(url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// HealthMux returns a mux serving /healthz (the process is alive) and /readyz
// (ready returns nil), both answering with JSON that includes stats().
func HealthMux(ready func(context.Context) error, stats func() any) *http.ServeMux {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, code int, body map[string]any) {
		body["stats"] = stats()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			reply(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "reason": err.Error()})
			return
		}
		reply(w, http.StatusOK, map[string]any{"status": "ready"})
	})
	return mux
}

// ServeHTTP serves h on addr until ctx is done. An empty addr serves
// nothing and returns when ctx is done.
func ServeHTTP(ctx context.Context, log *slog.Logger, addr string, h http.Handler) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	if wrap, ok := ctx.Value(httpListenerKey{}).(func(net.Listener) net.Listener); ok {
		ln = wrap(ln)
	}
	log.Info("listening", "for", "http", "addr", ln.Addr().String())
	hs := httpServer(ctx, log, h)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// WebSocket connections are hijacked: Shutdown does not wait for them,
	// the gateway's own shutdown closes them.
	err = hs.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = hs.Close()
	}
	<-errc
	return err
}
