package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/shared"
)

// mintToken runs `alo token` with env and returns the token it prints.
func mintToken(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(alotest.Binary(t, "alo"), append([]string{"token"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("alo token %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func tokenHello(tok string) string { return fmt.Sprintf(`{"token": %q}`, tok) }

// The dev binary with --auth jwt and no key flag reads the dev secret that
// `alo token` signs with: a minted token opens a session, a hello without
// one is refused.
func TestDevAuthWithAloToken(t *testing.T) {
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir()}
	tok1 := mintToken(t, env, "--user", "1", "--friends", "2")
	tok2 := mintToken(t, env, "--user", "2", "--friends", "1")
	alo := alotest.StartEnv(t, "alo", env, "--auth", "jwt", "--friends", "token", "--tcp", "127.0.0.1:0", "--udp", "", "--http", "")
	tcp := alo.Addr("clients")

	c := alotest.Dial(t, tcp)
	c.Send(alotest.Hello(1, 2))
	c.ExpectError(shared.CodeUnauthorized)
	c.ExpectClosed()

	one := alotest.Dial(t, tcp)
	one.Send(tokenHello(tok1))
	one.AwaitReady()
	two := alotest.Dial(t, tcp)
	two.Send(tokenHello(tok2))
	if snap := two.AwaitReady(); len(snap) != 1 || snap[0] != 1 {
		t.Fatalf("2's snapshot %v, want [1] from the token's friends claim", snap)
	}
	one.ExpectState(2, true)
}

// The gateway binary with a secret file and TLS: a token over TLS and over
// WSS opens a session, and friends come from the token.
func TestGatewayBinaryJWTAndTLS(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef-e2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := alotest.NewCA(t)
	cert, key := ca.Issue(t, "gateway", true)
	ns := alotest.NATS(t)
	alotest.Start(t, "presence", "--nats", ns.ClientURL(), "--rebuild", "1ms")
	gw := alotest.Start(t, "gateway", "--nats", ns.ClientURL(), "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--jwt-secret-file", secret, "--friends", "token", "--tls-cert", cert, "--tls-key", key)
	tcp, https := gw.Addr("clients"), gw.Addr("https")
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir()}
	tok1 := mintToken(t, env, "--jwt-secret-file", secret, "--user", "1", "--friends", "2")
	tok2 := mintToken(t, env, "--jwt-secret-file", secret, "--user", "2", "--friends", "1")

	one := alotest.DialTLS(t, tcp, ca.ClientConfig())
	one.Send(tokenHello(tok1))
	one.AwaitReady()
	two, err := alotest.DialWSTLS("wss://"+https+"/ws", nil, ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	if _, err := two.Write([]byte(tokenHello(tok2) + "\n")); err != nil {
		t.Fatal(err)
	}
	one.ExpectState(2, true)
}
