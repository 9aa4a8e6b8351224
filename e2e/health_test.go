package e2e

import (
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/alo-presence/alo/internal/alotest"
)

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The gateway binary checks tokens by default: without a key it does not
// start, and says what to pass.
func TestGatewayWithoutKeyDoesNotStart(t *testing.T) {
	p := alotest.Start(t, "gateway", "--nats", "nats://127.0.0.1:1", "--tcp", "127.0.0.1:0", "--http", "")
	line := p.Output("why it stopped", func(l string) bool { return strings.HasPrefix(l, "gateway: ") })
	for _, want := range []string{"--auth jwt needs a key", "--jwt-secret-file", "--auth none"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q does not say %q", line, want)
		}
	}
	var exit *exec.ExitError
	if err := p.Wait(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exited with %v, want status 1", err)
	}
}

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
	// It says why; the counts are not public without --debug.
	if body := get(t, "http://"+gwHTTP+"/readyz"); !strings.Contains(body, `"failing":["gateway: presence does not answer`) {
		t.Errorf("/readyz without presence: %s, want it to list the failing check", body)
	}
	if body := get(t, "http://"+gwHTTP+"/healthz"); strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Errorf("/healthz: %s", body)
	}
	if got := status("http://" + gwHTTP + "/debug"); got != http.StatusNotFound {
		t.Errorf("/debug without --debug: %d, want 404", got)
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
