package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alo-presence/alo/internal/alotest"
)

// A real Prometheus scrapes a running presence and gateway (the binaries):
// both targets are up, and the users-online query returns the number of
// users the test connected. Skipped when the prometheus binary is not
// installed (Debian: apt-get install prometheus).
func TestPrometheusScrapesTheStack(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("no prometheus binary on PATH (Debian: apt-get install prometheus): the real-Prometheus scrape is not tested")
	}
	ns := alotest.NATS(t)
	nurl := ns.ClientURL()
	pres := alotest.Start(t, "presence", "--nats", nurl, "--rebuild", "1ms", "--http", "127.0.0.1:0")
	gw := StartGateway(t, nurl, "--id", "gw-prom", "--http", "127.0.0.1:0")
	targets := []string{pres.Addr("http"), gw.Addr("http")}
	const users = 3
	for u := int64(1); u <= users; u++ {
		alotest.Connect(t, gw.TCP, u)
	}

	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: alo-presence
    static_configs:
      - targets: ['%s']
  - job_name: alo-gateway
    static_configs:
      - targets: ['%s']
`, targets[0], targets[1])), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	cmd := exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("--- prometheus log:\n%s", log.String())
		}
	})

	api := func(path string, out any) bool {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(out) == nil
	}
	alotest.WaitFor(t, 30*time.Second, "prometheus to report both targets up", func() bool {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					ScrapeURL string `json:"scrapeUrl"`
					Health    string `json:"health"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if !api("/api/v1/targets", &r) {
			return false
		}
		up := 0
		for _, tg := range r.Data.ActiveTargets {
			if tg.Health == "up" {
				up++
			}
		}
		return up == len(targets)
	})
	query := func(q string) string {
		var r struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if !api("/api/v1/query?query="+url.QueryEscape(q), &r) || len(r.Data.Result) != 1 || len(r.Data.Result[0].Value) != 2 {
			return ""
		}
		s, _ := r.Data.Result[0].Value[1].(string)
		return s
	}
	want := fmt.Sprint(users)
	for _, q := range []string{"sum(alo_presence_users)", `sum(alo_gateway_users{gateway="gw-prom"})`, `sum(alo_gateway_connections{transport="tcp"})`} {
		var got string
		alotest.WaitFor(t, 30*time.Second, q+" = "+want, func() bool { got = query(q); return got == want })
	}
	// The runtime and process collectors are there too.
	if query(`count(go_goroutines{job=~"alo-.*"})`) != "2" || query(`count(process_open_fds{job=~"alo-.*"})`) != "2" {
		t.Errorf("go_goroutines or process_open_fds missing from a target")
	}

	// Every query of the Grafana dashboard is valid PromQL, and those of the
	// panels below return data from this stack (rates once two scrapes are
	// in); the error panels' series appear with their first error.
	mustHaveData := map[string]bool{"Users online": true, "Sessions": true, "Gateways": true, "Presence up": true,
		"Connections by transport": true, "Users online over time": true, "Transitions/s": true, "Hello → ready latency": true}
	raw, err := os.ReadFile("../deploy/grafana/alo-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			var r struct {
				Status string `json:"status"`
				Data   struct {
					Result []json.RawMessage `json:"result"`
				} `json:"data"`
			}
			alotest.WaitFor(t, 30*time.Second, "dashboard panel "+p.Title+": "+tg.Expr, func() bool {
				return api("/api/v1/query?query="+url.QueryEscape(tg.Expr), &r) && r.Status == "success" &&
					(len(r.Data.Result) > 0 || !mustHaveData[p.Title])
			})
		}
	}
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
