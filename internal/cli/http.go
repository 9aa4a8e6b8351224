package cli

import (
	"context"
	"crypto/tls"
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
	fs.StringVar(&h.Addr, "http", def, "`address` for HTTP: /healthz, /readyz, /metrics (Prometheus); on gateways also the demo page at / and the WebSocket at /ws (empty: off)")
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

// Health is what a binary's health endpoints report.
type Health struct {
	// Ready returns nil when the process can do its work; otherwise an
	// error per failing check (errors.Join), each listed by /readyz.
	Ready func(context.Context) error
	// Warnings, if set, returns what is degraded but still working (a key
	// or certificate file whose new content did not load, the previous one
	// serving): listed by /readyz without making it fail. Failing
	// readiness for it would take every gateway out of its balancer at
	// once, since all read the same files, while all still serve.
	Warnings func() []error
	// Stats, if set, is served as JSON at /debug (--debug): counts of
	// users, sessions and connections are for operators, not for the
	// public health endpoints.
	Stats func() any
}

// HealthMux returns a mux serving /healthz (the process is up:
// {"status":"ok"}), /readyz ({"status":"ready"} or 503 {"status":"not
// ready","failing":[...]}; "warnings" when there are some) and, with
// h.Stats, /debug.
func HealthMux(h Health) *http.ServeMux {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, code int, body any) {
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
		body := map[string]any{"status": "ready"}
		if h.Warnings != nil {
			if ws := errorTexts(h.Warnings()...); len(ws) > 0 {
				body["warnings"] = ws
			}
		}
		if err := h.Ready(ctx); err != nil {
			body["status"] = "not ready"
			body["failing"] = errorTexts(err)
			reply(w, http.StatusServiceUnavailable, body)
			return
		}
		reply(w, http.StatusOK, body)
	})
	if h.Stats != nil {
		mux.HandleFunc("GET /debug", func(w http.ResponseWriter, r *http.Request) {
			reply(w, http.StatusOK, h.Stats())
		})
	}
	return mux
}

// errorTexts flattens joined errors into one text each.
func errorTexts(errs ...error) []string {
	var out []string
	for _, err := range errs {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			out = append(out, errorTexts(j.Unwrap()...)...)
		} else if err != nil {
			out = append(out, err.Error())
		}
	}
	return out
}

// DebugFlag registers --debug, which serves /debug on --http.
func DebugFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("debug", false, "serve /debug on --http: counts of users, sessions and connections (off: they are not public)")
}

// DebugStats returns stats when on, else nil (for Health.Stats).
func DebugStats(on bool, stats func() any) func() any {
	if !on {
		return nil
	}
	return stats
}

// ServeHTTP serves h on addr until ctx is done. An empty addr serves
// nothing and returns when ctx is done.
func ServeHTTP(ctx context.Context, log *slog.Logger, addr string, h http.Handler) error {
	return ServeHTTPS(ctx, log, addr, h, nil)
}

// ServeHTTPS is ServeHTTP over TLS when tlsCfg is set. The handshake is
// bounded by the server's ReadHeaderTimeout (net/http applies it to TLS
// handshakes too), so a client that sends plain HTTP or nothing is
// answered or closed, not held.
func ServeHTTPS(ctx context.Context, log *slog.Logger, addr string, h http.Handler, tlsCfg *tls.Config) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", addr, err)
	}
	// Admission per source on the raw listener, before any TLS, so that a
	// refused source costs no handshake.
	if wrap, ok := ctx.Value(httpListenerKey{}).(func(net.Listener) net.Listener); ok {
		ln = wrap(ln)
	}
	what := "http"
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
		what = "https"
	}
	log.Info("listening", "for", what, "addr", ln.Addr().String())
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
