package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/presence"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// A bare port means loopback; an address that names a host is taken as it
// is.
func TestListenAddr(t *testing.T) {
	for _, c := range []struct {
		in   string
		host string
		port int
	}{
		{":4222", "127.0.0.1", 4222},
		{"4222", "127.0.0.1", 4222},
		{":0", "127.0.0.1", -1},
		{"0.0.0.0:4222", "0.0.0.0", 4222},
		{"[::1]:4222", "::1", 4222},
		{"localhost:4300", "localhost", 4300},
	} {
		host, port, err := listenAddr(c.in)
		if err != nil || host != c.host || port != c.port {
			t.Errorf("listenAddr(%q) = %q, %d, %v; want %q, %d", c.in, host, port, err, c.host, c.port)
		}
	}
	for _, bad := range []string{":x", ":70000", "a:b:c"} {
		if _, _, err := listenAddr(bad); err == nil {
			t.Errorf("listenAddr(%q): no error", bad)
		}
	}
}

// Plain alo needs no flags and no credentials: its NATS takes in-process
// connections only, whatever the environment says about tokens.
func TestNATSInProcessOnly(t *testing.T) {
	t.Setenv(cli.EnvNATSToken, "from-the-shell")
	d, err := natsSetup("", "", cli.NATSFlags{})
	if err != nil {
		t.Fatal(err)
	}
	if !d.opts.DontListen || d.opts.Authorization != "" {
		t.Fatalf("options %+v: want no listener and no token", d.opts)
	}
	runDev(t, d)
}

// runDev runs alo's presence and gateway on d's NATS, through run, and
// returns once both have started, which takes their logging in.
func runDev(t *testing.T, d *devNATS) {
	t.Helper()
	err := run(context.Background(), cli.Discard(), d, presence.Config{Rebuild: -1}, gateway.Config{},
		func(context.Context, *gateway.Server) error { return nil })
	if err != nil {
		t.Fatalf("run: %v", err)
	}
}

// The token: from --nats-token-file if the file exists, else written there;
// from ALO_NATS_TOKEN; else made up. Other credentials need --nats-config.
func TestNATSToken(t *testing.T) {
	t.Setenv(cli.EnvNATSToken, "")
	file := filepath.Join(t.TempDir(), "token")
	d, err := natsSetup(":0", "", cli.NATSFlags{TokenFile: file})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v; want it written, mode 0600", fi, err)
	}
	b, _ := os.ReadFile(file)
	if got := strings.TrimSpace(string(b)); got != d.opts.Authorization || len(got) < 20 {
		t.Fatalf("file holds %q, server wants %q", got, d.opts.Authorization)
	}
	again, err := natsSetup(":0", "", cli.NATSFlags{TokenFile: file})
	if err != nil || again.opts.Authorization != d.opts.Authorization {
		t.Fatalf("second start: %v, token %q; want the file's %q", err, again.opts.Authorization, d.opts.Authorization)
	}
	runDev(t, again)

	t.Setenv(cli.EnvNATSToken, "env-token")
	fromEnv, err := natsSetup(":0", "", cli.NATSFlags{})
	if err != nil || fromEnv.opts.Authorization != "env-token" {
		t.Fatalf("%v, token %q; want ALO_NATS_TOKEN's", err, fromEnv.opts.Authorization)
	}
	runDev(t, fromEnv)

	t.Setenv(cli.EnvNATSToken, "")
	a, _ := natsSetup(":0", "", cli.NATSFlags{})
	b2, _ := natsSetup(":0", "", cli.NATSFlags{})
	if a.opts.Authorization == "" || a.opts.Authorization == b2.opts.Authorization {
		t.Fatalf("made-up tokens %q and %q: want new ones", a.opts.Authorization, b2.opts.Authorization)
	}
	if _, err := natsSetup(":0", "", cli.NATSFlags{User: "alo"}); !errors.Is(err, errTokenOnly) {
		t.Fatalf("--nats-user without --nats-config: %v, want %v", err, errTokenOnly)
	}
}

// --nats-config: a real nats-server config file, parsed by nats-server.
// Its users are required from outside and from alo's own parts, which log
// in with the credential flags; a config that lets anyone in is refused.
func TestNATSConfig(t *testing.T) {
	t.Setenv(cli.EnvNATSToken, "")
	t.Setenv(cli.EnvNATSPassword, "")
	// write_deadline: a refused in-process client learns it when the
	// server gives up writing the -ERR it does not read (10s by default).
	conf := writeFile(t, "nats.conf", `
write_deadline: "200ms"
authorization {
  users = [
    { user: dev, password: s3cret }
  ]
}
`)
	pw := writeFile(t, "pw", "s3cret\n")
	d, err := natsSetup("", conf, cli.NATSFlags{User: "dev", PasswordFile: pw})
	if err != nil {
		t.Fatal(err)
	}
	if d.opts.Host != "127.0.0.1" {
		t.Fatalf("no listen in the file: host %q, want 127.0.0.1", d.opts.Host)
	}
	d, err = natsSetup(":0", conf, cli.NATSFlags{User: "dev", PasswordFile: pw})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := startNATS(d.opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nats.Connect(ns.ClientURL()); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect without credentials: %v, want %v", err, nats.ErrAuthorization)
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo("dev", "s3cret"))
	if err != nil {
		t.Fatalf("connect as the config's user: %v", err)
	}
	nc.Close()
	ns.Shutdown()
	runDev(t, d)

	wrong, err := natsSetup(":0", conf, cli.NATSFlags{User: "dev", PasswordFile: writeFile(t, "pw", "nope")})
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), cli.Discard(), wrong, presence.Config{Rebuild: -1}, gateway.Config{},
		func(context.Context, *gateway.Server) error { return nil })
	if !errors.Is(err, cli.ErrNATSLogin) || !strings.Contains(err.Error(), "--nats-password-file") {
		t.Fatalf("alo's own parts with a wrong password: %v, want %v naming the flag", err, cli.ErrNATSLogin)
	}

	for _, open := range []string{"port: 4222\n", "authorization { users = [ {user: a, password: b} ] }\nno_auth_user: a\n"} {
		if _, err := natsSetup(":0", writeFile(t, "open.conf", open), cli.NATSFlags{}); !errors.Is(err, errOpenConfig) {
			t.Errorf("config %q: %v, want %v", open, err, errOpenConfig)
		}
	}
	if _, err := natsSetup(":0", writeFile(t, "bad.conf", "authorization {"), cli.NATSFlags{}); err == nil {
		t.Error("a config that does not parse: no error")
	}
}
