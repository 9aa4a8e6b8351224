package cli

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a binary's metrics registry, with the Go runtime's
// and the process's collectors in it. Each binary makes its own and hands
// it to the libraries (gateway.Config.Metrics, presence.Config.Metrics):
// no library registers on a global default, so tests and the all-in-one
// binary can hold several.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// HandleMetrics serves reg's metrics at /metrics on mux, in Prometheus's
// text (or negotiated) format. A nil reg serves nothing.
func HandleMetrics(mux *http.ServeMux, reg prometheus.Gatherer) {
	if reg == nil {
		return
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}
