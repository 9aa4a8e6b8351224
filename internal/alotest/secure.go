package alotest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/internal/natssecrets"
)

// SecureNATS is a NATS server configured exactly as the compose stack's,
// users and permissions from deploy/nats.conf, with fresh passwords.
type SecureNATS struct {
	*server.Server
	dir string // the passwords
}

// ModuleRoot is the directory of go.mod, found from this file's path, for
// tests that read the repository's own files (deploy/, docs/).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ComposeNATSConfig copies deploy/nats.conf into a temporary directory with
// a passwords.conf of fresh passwords beside it (natssecrets, at the lowest
// bcrypt cost: tests need no strength), and returns the copy's path and the
// directory that holds the passwords.
func ComposeNATSConfig(t testing.TB) (conf, secrets string) {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(ModuleRoot(t), "deploy", "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf = filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := natssecrets.Generate(dir, natssecrets.Users(natssecrets.Gateways), 4); err != nil {
		t.Fatal(err)
	}
	return conf, dir
}

// NATSSecure starts a NATS server on a random loopback port with the
// compose stack's authorization (deploy/nats.conf, parsed by nats-server's
// own parser), monitoring off.
func NATSSecure(t testing.TB) *SecureNATS {
	t.Helper()
	conf, dir := ComposeNATSConfig(t)
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("deploy/nats.conf: %v", err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", server.RANDOM_PORT, 0
	opts.NoLog, opts.NoSigs = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(Timeout) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return &SecureNATS{Server: ns, dir: dir}
}

// Password returns user's password.
func (s *SecureNATS) Password(t testing.TB, user string) string {
	t.Helper()
	pw, err := natssecrets.Password(s.dir, user)
	if err != nil {
		t.Fatal(err)
	}
	return pw
}

// ConnAs connects as user, with the options ALO's binaries use and extra
// ones after them (an error handler, say).
func (s *SecureNATS) ConnAs(t testing.TB, user string, extra ...nats.Option) *nats.Conn {
	t.Helper()
	opts := append(cli.NATSOptions("test "+user, cli.Discard()), nats.UserInfo(user, s.Password(t, user)))
	nc, err := nats.Connect(s.ClientURL(), append(opts, extra...)...)
	if err != nil {
		t.Fatalf("nats connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}
