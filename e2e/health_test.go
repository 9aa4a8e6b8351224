package e2e

import (
	"net/http"
	"os/exec"
	"testing"

	"github.com/alo-presence/alo/internal/alotest"
)

func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A gateway is alive at once but ready only when presence answers; presence
// is ready when NATS is connected; --health-probe turns that into an exit
// code for container health checks.
func TestHealthAndReadiness(t *testing.T) {
	ns := alotest.NATS(t)
	gw := StartGateway(t, ns.ClientURL(), "--http", "127.0.0.1:0")
	gwHTTP := gw.Addr("http")
	alotest.WaitFor(t, alotest.Timeout, "gateway /healthz", func() bool {
		return status("http://"+gwHTTP+"/healthz") == http.StatusOK
	})
	if got := status("http://" + gwHTTP + "/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("gateway /readyz without presence: %d, want 503", got)
	}
	probe := exec.Command(alotest.Binary(t, "gateway"), "--health-probe", "http://"+gwHTTP+"/readyz")
	if err := probe.Run(); err == nil {
		t.Fatal("--health-probe exited 0 for a gateway that is not ready")
	}

	p := alotest.Start(t, "presence", "--nats", ns.ClientURL(), "--http", "127.0.0.1:0")
	pHTTP := p.Addr("http")
	alotest.WaitFor(t, alotest.Timeout, "presence /readyz", func() bool {
		return status("http://"+pHTTP+"/readyz") == http.StatusOK
	})
	alotest.WaitFor(t, alotest.Timeout, "gateway /readyz", func() bool {
		return status("http://"+gwHTTP+"/readyz") == http.StatusOK
	})
	probe = exec.Command(alotest.Binary(t, "gateway"), "--health-probe", "http://"+gwHTTP+"/readyz")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Fatalf("--health-probe of a ready gateway: %v %s", err, out)
	}

	ns.Shutdown()
	alotest.WaitFor(t, alotest.Timeout, "presence not ready without nats", func() bool {
		return status("http://"+pHTTP+"/readyz") == http.StatusServiceUnavailable
	})
}
