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
}

// Register adds --http (with the given default) and --health-probe to fs.
func (h *HTTPFlags) Register(fs *flag.FlagSet, def string) {
	fs.StringVar(&h.Addr, "http", def, "`address` for HTTP: /healthz, /readyz, /metrics (Prometheus); on gateways also the demo page at / and the WebSocket at /ws (empty: off)")
	fs.StringVar(&h.Probe, "health-probe", "", "only GET this `URL` and exit 0 if it answers 200, 1 otherwise (for container health checks)")
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
	log.Info("listening", "for", "http", "addr", ln.Addr().String())
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
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
