package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/alo-presence/alo/internal/alotest"
)

func TestMain(m *testing.M) { alotest.Main(m) }

// gatewayProc is a gateway process and its client address.
type gatewayProc struct {
	*alotest.Process
	TCP string
}

// StartGateway runs a gateway process on a free loopback port and waits
// until it accepts clients.
func StartGateway(t *testing.T, natsURL string, args ...string) *gatewayProc {
	t.Helper()
	p := alotest.Start(t, "gateway", append([]string{"--tcp", "127.0.0.1:0", "--nats", natsURL, "--auth", "none"}, args...)...)
	return &gatewayProc{Process: p, TCP: p.Addr("clients")}
}

// Presence and two gateways as separate processes on a NATS server: users on
// different gateways see each other come and go, and a gateway stopped with
// SIGTERM has its users reported offline.
func TestProcesses(t *testing.T) {
	ns := alotest.NATS(t)
	url := ns.ClientURL()
	alotest.Start(t, "presence", "--nats", url, "--rebuild", "1ms")
	gwA := StartGateway(t, url, "--id", "a")
	gwB := StartGateway(t, url, "--id", "b")

	a, _ := alotest.Connect(t, gwA.TCP, 1, 2)
	b, snap := alotest.Connect(t, gwB.TCP, 2, 1)
	wantOnline(t, snap, 1)
	a.ExpectState(2, true)
	b.Close()
	a.ExpectState(2, false)

	alotest.Connect(t, gwB.TCP, 2, 1)
	a.ExpectState(2, true)
	start := time.Now()
	gwB.Signal(syscall.SIGTERM)
	a.ExpectState(2, false)
	t.Logf("offline seen %v after SIGTERM", time.Since(start))
	if err := gwB.Wait(); err != nil {
		t.Fatalf("gateway exited with %v after SIGTERM", err)
	}
}

// The dev binary with --nats-listen: another process's gateway joins its
// embedded NATS with the token alo printed, and users on both see each
// other.
func TestDevModeWithExternalGateway(t *testing.T) {
	alo, natsURL, token := devNATS(t, "127.0.0.1:0")
	tcp := alo.Addr("clients")
	p := alotest.StartEnv(t, "gateway", []string{"ALO_NATS_TOKEN=" + token}, "--tcp", "127.0.0.1:0", "--nats", natsURL, "--auth", "none")
	gw := &gatewayProc{Process: p, TCP: p.Addr("clients")}

	a, _ := alotest.Connect(t, tcp, 1, 2)
	b, snap := alotest.Connect(t, gw.TCP, 2, 1)
	wantOnline(t, snap, 1)
	a.ExpectState(2, true)
	a.Send(`{"online": false}`)
	b.ExpectState(1, false)

	alotest.Connect(t, tcp, 1, 2)
	b.ExpectState(1, true)
	alo.Signal(syscall.SIGINT)
	b.ExpectState(1, false) // the dev process drained before it exited
	if err := alo.Wait(); err != nil {
		t.Fatalf("alo exited with %v after SIGINT", err)
	}
}
