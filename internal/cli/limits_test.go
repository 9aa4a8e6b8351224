package cli

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
)

func TestLimitFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, l *Limits)
	}{
		{"defaults", nil, func(t *testing.T, l *Limits) {
			a := l.Admission()
			if a.MaxConnsPerIP != gateway.DefaultMaxConnsPerIP || a.ConnRatePerIP != gateway.DefaultConnRatePerIP || a.MaxConns != DefaultMaxConns() || a.MaxConns < 16 {
				t.Fatalf("%+v", a)
			}
			if u := l.Users(); u.MaxSessionsPerUser != gateway.DefaultMaxSessionsPerUser || u.FriendUpdatesPerSec != gateway.DefaultFriendUpdatesPerSec {
				t.Fatalf("%+v", u)
			}
			if !l.UDPCookie || l.FriendUnion() != gateway.DefaultMaxFriendUnion {
				t.Fatalf("%+v", l)
			}
		}},
		{"loopback load test", []string{"--max-conns-per-ip", "0", "--conn-rate-per-ip", "0"}, func(t *testing.T, l *Limits) {
			a := l.Admission()
			if a.MaxConnsPerIP >= 0 || a.ConnRatePerIP >= 0 {
				t.Fatalf("0 does not turn the per-IP limits off: %+v", a)
			}
			adm, err := gateway.NewAdmission(a)
			if err != nil {
				t.Fatal(err)
			}
			if adm.Config().MaxConnsPerIP >= 0 {
				t.Fatalf("%+v", adm.Config())
			}
		}},
		{"all off", []string{"--max-conns", "0", "--max-sessions-per-user", "0", "--max-friend-union", "0", "--friend-updates-per-sec", "0", "--udp-cookie=false"}, func(t *testing.T, l *Limits) {
			if l.Admission().MaxConns >= 0 || l.Users().MaxSessionsPerUser >= 0 || l.Users().FriendUpdatesPerSec >= 0 || l.FriendUnion() >= 0 || l.UDPCookie {
				t.Fatalf("%+v", l)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var l Limits
			l.Register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			tc.check(t, &l)
		})
	}
}

// The limit flags reach gateway.Config through GatewayFlags, which both alo
// and gateway register.
func TestGatewayFlagsLimits(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	config := GatewayFlags(fs)
	if err := fs.Parse([]string{"--max-conns-per-ip", "0", "--max-sessions-per-user", "3", "--message-timeout", "2s", "--udp-cookie=false", "--max-friend-union", "6000"}); err != nil {
		t.Fatal(err)
	}
	c := config()
	if c.Admission.MaxConnsPerIP != -1 || c.Admission.ConnRatePerIP != gateway.DefaultConnRatePerIP || c.Users.MaxSessionsPerUser != 3 ||
		c.MessageTimeout != 2*time.Second || !c.UDPGate.NoCookie || c.MaxFriendUnion != 6000 {
		t.Fatalf("%+v", c)
	}
	if err := fs.Parse([]string{"--message-timeout", "0"}); err == nil {
		t.Fatal("--message-timeout 0 accepted")
	}
}

// The HTTP timeouts flags reach the server ServeHTTP runs.
func TestHTTPTimeoutFlags(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var h HTTPFlags
	h.Register(fs, "")
	if err := fs.Parse([]string{"--http-idle-timeout", "7s"}); err != nil {
		t.Fatal(err)
	}
	hs := httpServer(withHTTPTimeouts(context.Background(), h), Discard(), nil)
	if hs.ReadHeaderTimeout != DefaultHTTPReadHeaderTimeout || hs.IdleTimeout != 7*time.Second {
		t.Fatalf("header %v, idle %v", hs.ReadHeaderTimeout, hs.IdleTimeout)
	}
	if hs := httpServer(context.Background(), Discard(), nil); hs.ReadHeaderTimeout == 0 || hs.IdleTimeout == 0 {
		t.Fatal("no timeouts without flags")
	}
}
