package e2e

import (
	"net/http"
	"os/exec"
	"path/filepath"
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
	gwHTTP := freePort(t)
	StartGateway(t, ns.ClientURL(), "--http", gwHTTP)
	alotest.WaitFor(t, alotest.Timeout, "gateway /healthz", func() bool {
		return status("http://"+gwHTTP+"/healthz") == http.StatusOK
	})
	if got := status("http://" + gwHTTP + "/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("gateway /readyz without presence: %d, want 503", got)
	}
	probe := exec.Command(filepath.Join(binaries(t), "gateway"), "--health-probe", "http://"+gwHTTP+"/readyz")
	if err := probe.Run(); err == nil {
		t.Fatal("--health-probe exited 0 for a gateway that is not ready")
	}

	pHTTP := freePort(t)
	Start(t, "presence", "--nats", ns.ClientURL(), "--http", pHTTP)
	alotest.WaitFor(t, alotest.Timeout, "presence /readyz", func() bool {
		return status("http://"+pHTTP+"/readyz") == http.StatusOK
	})
	alotest.WaitFor(t, alotest.Timeout, "gateway /readyz", func() bool {
		return status("http://"+gwHTTP+"/readyz") == http.StatusOK
	})
	probe = exec.Command(filepath.Join(binaries(t), "gateway"), "--health-probe", "http://"+gwHTTP+"/readyz")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Fatalf("--health-probe of a ready gateway: %v %s", err, out)
	}

	ns.Shutdown()
	alotest.WaitFor(t, alotest.Timeout, "presence not ready without nats", func() bool {
		return status("http://"+pHTTP+"/readyz") == http.StatusServiceUnavailable
	})
}
