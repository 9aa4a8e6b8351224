package e2e

import (
	"errors"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/internal/alotest"
)

// A wrong password at start: gateway and presence exit with status 1 and a
// message naming the cause and the flags to check, instead of running
// without a bus.
func TestWrongNATSPasswordAtStartExits(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true,
		Username: "alo", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(alotest.Timeout) {
		t.Fatal("nats server did not start")
	}
	for _, name := range []string{"gateway", "presence"} {
		t.Run(name, func(t *testing.T) {
			args := []string{"--nats", ns.ClientURL(), "--nats-user", "alo", "--http", ""}
			if name == "gateway" {
				args = append(args, "--tcp", "127.0.0.1:0", "--auth", "none")
			}
			p := alotest.StartEnv(t, name, []string{"ALO_NATS_PASSWORD=wrong"}, args...)
			line := p.Output("why it stopped", func(l string) bool { return strings.HasPrefix(l, name+": ") })
			for _, want := range []string{"authorization violation", "--nats-password-file", "ALO_NATS_PASSWORD"} {
				if !strings.Contains(strings.ToLower(line), strings.ToLower(want)) {
					t.Errorf("%q does not say %q", line, want)
				}
			}
			var exit *exec.ExitError
			if err := p.Wait(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("%s exited with %v, want status 1", name, err)
			}
		})
	}
}

// devNATS starts alo with --nats-listen addr (and args) and returns it, the
// URL its NATS listens on, and the token it printed.
func devNATS(t *testing.T, addr string, args ...string) (*alotest.Process, string, string) {
	t.Helper()
	alo := alotest.Start(t, "alo", append([]string{"--tcp", "127.0.0.1:0", "--udp", "", "--http", "", "--nats-listen", addr}, args...)...)
	natsURL := alo.Addr("nats")
	line := alo.Output("the line to attach with", func(l string) bool { return strings.Contains(l, "ALO_NATS_TOKEN=") })
	fields := strings.Fields(line)
	if len(fields) != 4 || fields[1] != "gateway" || fields[2] != "--nats" || fields[3] != natsURL {
		t.Fatalf("attach line %q: want ALO_NATS_TOKEN=… gateway --nats %s", line, natsURL)
	}
	return alo, natsURL, strings.TrimPrefix(fields[0], "ALO_NATS_TOKEN=")
}

// alo --nats-listen requires the token it prints: a client without it is
// refused, one with it gets in; a bare port binds loopback only.
func TestDevNATSRequiresToken(t *testing.T) {
	_, natsURL, token := devNATS(t, ":0")
	u, err := url.Parse(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		t.Fatalf("--nats-listen :0 listens on %s, want loopback", natsURL)
	}
	if _, err := nats.Connect(natsURL); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect without a token: %v, want %v", err, nats.ErrAuthorization)
	}
	if _, err := nats.Connect(natsURL, nats.Token("not-"+token)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect with a wrong token: %v, want %v", err, nats.ErrAuthorization)
	}
	nc, err := nats.Connect(natsURL, nats.Token(token))
	if err != nil {
		t.Fatalf("connect with the printed token: %v", err)
	}
	nc.Close()
}
