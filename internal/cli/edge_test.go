package cli_test

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/cli"
)

func setupEdge(dev bool, args ...string) (gateway.Config, *cli.Edge, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var e cli.EdgeFlags
	e.Register(fs, dev)
	var cfg gateway.Config
	if err := cli.Parse(fs, args, "test"); err != nil {
		return cfg, nil, err
	}
	edge, err := e.Setup(cli.Discard(), &cfg)
	return cfg, edge, err
}

// The gateway binary's default is jwt, and without a key it does not
// start; the flags that need each other say so.
func TestEdgeFlagsRefuse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--auth jwt needs a key"},
		{[]string{"--auth", "basic"}, `--auth: "basic"`},
		{[]string{"--auth", "none", "--friends", "token"}, "--friends token needs --auth jwt"},
		{[]string{"--auth", "none", "--friends", "everyone"}, `--friends: "everyone"`},
		{[]string{"--auth", "none", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--auth", "none", "--tls-client-ca", "ca.pem"}, "--tls-client-ca needs"},
		{[]string{"--jwt-secret-file", "/nonexistent/secret"}, "--auth jwt"},
	} {
		_, _, err := setupEdge(false, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
	if _, _, err := setupEdge(false); !errors.Is(err, cli.ErrNoJWTKey) {
		t.Errorf("no key: %v, want ErrNoJWTKey", err)
	}
}

// alo defaults to none; with jwt and no key it takes the dev secret, which
// `alo token` signs with.
func TestEdgeFlagsDev(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cfg, edge, err := setupEdge(true)
	if err != nil || cfg.Auth != nil || edge.Verifier != nil || cfg.Friends != gateway.FriendsClient {
		t.Fatalf("alo default: %+v %v", cfg, err)
	}
	cfg, edge, err = setupEdge(true, "--auth", "jwt", "--friends", "token")
	if err != nil || cfg.Auth == nil || edge.Verifier == nil || cfg.Friends != gateway.FriendsToken || cfg.TokenLeeway <= 0 {
		t.Fatalf("alo --auth jwt: %+v %v", cfg, err)
	}
}
