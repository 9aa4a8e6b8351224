package cli_test

import (
	"context"
	"flag"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/presence"
)

// limitFlags are every limit the gateway and presence binaries take: each
// must be greater than zero.
var limitFlags = []string{
	"max-message", "max-friends", "max-queue", "max-push", "hello-timeout", "write-timeout",
	"rate", "burst", "heartbeat", "udp-idle", "ws-ping", "lease",
}

type configs struct {
	gateway    gateway.Config
	transports cli.TransportFlags
	presence   presence.Config
}

// parse registers what cmd/alo registers and parses args.
func parse(args ...string) (configs, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cli.PrefixFlag(fs)
	var c configs
	c.transports.Register(fs, "")
	gw := cli.GatewayFlags(fs)
	pr := cli.PresenceFlags(fs)
	if err := cli.Parse(fs, args, "test"); err != nil {
		return c, err
	}
	c.gateway = gw()
	var err error
	c.presence, err = pr()
	return c, err
}

// TestLimitFlagsRefuseZero: a limit set to 0 or less, on the command line or
// in the environment, is an error naming it, never a silent default.
func TestLimitFlagsRefuseZero(t *testing.T) {
	for _, name := range limitFlags {
		for _, v := range []string{"0", "-1", "-1s", "0s"} {
			if _, err := parse("--"+name, v); err == nil || !strings.Contains(err.Error(), "-"+name+":") {
				t.Errorf("--%s %s: error %v, want one naming the flag", name, v, err)
			}
			t.Run("env", func(t *testing.T) {
				t.Setenv(cli.EnvName(name), v)
				if _, err := parse(); err == nil || !strings.Contains(err.Error(), cli.EnvName(name)) {
					t.Errorf("%s=%s: error %v, want one naming the variable", cli.EnvName(name), v, err)
				}
			})
		}
	}
}

func TestLimitFlagsDefaultsAndValues(t *testing.T) {
	c, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	if c.gateway.MaxFriends != gateway.DefaultMaxFriends || c.gateway.RateLimit != gateway.DefaultRateLimit ||
		c.gateway.HelloTimeout != gateway.DefaultHelloTimeout || c.transports.UDPIdle != gateway.DefaultUDPIdleTimeout ||
		c.presence.Lease != 3*time.Second || c.presence.Rebuild != 0 {
		t.Errorf("defaults: %+v", c)
	}
	c, err = parse("--max-friends", "3", "--rate", "0.5", "--hello-timeout", "2s", "--lease", "1s", "--ws-ping", "5s")
	if err != nil {
		t.Fatal(err)
	}
	if c.gateway.MaxFriends != 3 || c.gateway.RateLimit != 0.5 || c.gateway.HelloTimeout != 2*time.Second ||
		c.presence.Lease != time.Second || c.transports.WSPing != 5*time.Second {
		t.Errorf("values: %+v", c)
	}
	for _, bad := range []string{"x", "1.5", "NaN", "+Inf"} {
		if _, err := parse("--max-friends", bad); err == nil {
			t.Errorf("--max-friends %s accepted", bad)
		}
		if _, err := parse("--rate", bad); err == nil && bad != "1.5" {
			t.Errorf("--rate %s accepted", bad)
		}
	}
}

// TestRebuildZeroMeansNone: --rebuild 0 is no rebuild window (presence.Config
// reads a zero as "the lease", so the flag turns it into -1); left out it is
// the lease; negative is refused.
func TestRebuildZeroMeansNone(t *testing.T) {
	if c, err := parse("--rebuild", "0"); err != nil || c.presence.Rebuild >= 0 {
		t.Errorf("--rebuild 0: %v, %v", c.presence.Rebuild, err)
	}
	if c, err := parse("--rebuild", "2s"); err != nil || c.presence.Rebuild != 2*time.Second {
		t.Errorf("--rebuild 2s: %v, %v", c.presence.Rebuild, err)
	}
	if _, err := parse("--rebuild", "-1s"); err == nil || !strings.Contains(err.Error(), "--rebuild") {
		t.Errorf("--rebuild -1s: %v", err)
	}
}

// TestGatewayBinaryRefusesZeroLimit starts the real binary: it must exit at
// once with an error naming the flag, before it touches NATS.
func TestGatewayBinaryRefusesZeroLimit(t *testing.T) {
	for _, args := range [][]string{
		{"gateway", "--nats", "nats://127.0.0.1:1"},
		{"alo"},
	} {
		bin := alotest.Binary(t, args[0])
		// Were the flag taken, the binary would run (or wait for NATS)
		// until the context ends it: that is the failure, not a hang.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, bin, append(args[1:], "--max-friends", "0", "--tcp", "127.0.0.1:0", "--udp", "", "--http", "")...).CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if _, ok := err.(*exec.ExitError); !ok || timedOut {
			t.Fatalf("%s --max-friends 0: %v, want an exit with an error\n%s", args[0], err, out)
		}
		if !strings.Contains(string(out), "max-friends") || !strings.Contains(string(out), "greater than 0") {
			t.Errorf("%s --max-friends 0 said:\n%s", args[0], out)
		}
	}
}
