package cli_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/internal/cli"
)

// natsServer starts a NATS server on loopback with opts (host, port and
// logging filled in).
func natsServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.NoLog, opts.NoSigs = "127.0.0.1", true, true
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(alotest.Timeout) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func file(t *testing.T, name, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// connect runs Connect under a context that ends with the test.
func connect(t *testing.T, f cli.NATSFlags) (*nats.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	nc, err := f.Connect(ctx, "test", cli.Discard())
	if nc != nil {
		t.Cleanup(nc.Close)
	}
	return nc, err
}

// roundTrip proves nc logged in: a message it publishes comes back.
func roundTrip(t *testing.T, nc *nats.Conn) {
	t.Helper()
	sub, err := nc.SubscribeSync("t.echo")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("t.echo", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(alotest.Timeout); err != nil {
		t.Fatalf("no message back: %v", err)
	}
}

// wantRefused checks err is a refused login that names hint.
func wantRefused(t *testing.T, err error, sentinel error, hint string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want %v", err, sentinel)
	}
	if !strings.Contains(err.Error(), hint) {
		t.Fatalf("err = %q, want it to name %q", err, hint)
	}
}

// operator makes a trusted operator, an account and a user in it, as nsc
// would: it returns the server options that trust them and a creds file for
// the user.
func operator(t *testing.T) (*server.Options, string) {
	t.Helper()
	opKP, _ := nkeys.CreateOperator()
	opPub, _ := opKP.PublicKey()
	opClaims := jwt.NewOperatorClaims(opPub)
	opJWT, err := opClaims.Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	opClaims, err = jwt.DecodeOperatorClaims(opJWT)
	if err != nil {
		t.Fatal(err)
	}
	accKP, _ := nkeys.CreateAccount()
	accPub, _ := accKP.PublicKey()
	accJWT, err := jwt.NewAccountClaims(accPub).Encode(opKP)
	if err != nil {
		t.Fatal(err)
	}
	userKP, _ := nkeys.CreateUser()
	userPub, _ := userKP.PublicKey()
	uc := jwt.NewUserClaims(userPub)
	uc.Name = "gateway"
	userJWT, err := uc.Encode(accKP)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := userKP.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		t.Fatal(err)
	}
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(accPub, accJWT); err != nil {
		t.Fatal(err)
	}
	return &server.Options{TrustedOperators: []*jwt.OperatorClaims{opClaims}, AccountResolver: resolver}, file(t, "user.creds", string(creds))
}

// Each kind of credential logs in to a server that requires it, and the
// wrong one is refused at once with an error that names its flags.
func TestNATSCredentials(t *testing.T) {
	t.Run("user and password file", func(t *testing.T) {
		ns := natsServer(t, &server.Options{Username: "alo", Password: "s3cret"})
		nc, err := connect(t, cli.NATSFlags{URL: ns.ClientURL(), User: "alo", PasswordFile: file(t, "pw", "s3cret\n")})
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, nc)
		_, err = connect(t, cli.NATSFlags{URL: ns.ClientURL(), User: "alo", PasswordFile: file(t, "pw", "wrong\n")})
		wantRefused(t, err, cli.ErrNATSLogin, "--nats-password-file")
	})
	t.Run("user and password from the environment", func(t *testing.T) {
		ns := natsServer(t, &server.Options{Username: "alo", Password: "s3cret"})
		t.Setenv(cli.EnvNATSPassword, "s3cret")
		nc, err := connect(t, cli.NATSFlags{URL: ns.ClientURL(), User: "alo"})
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, nc)
		t.Setenv(cli.EnvNATSPassword, "wrong")
		_, err = connect(t, cli.NATSFlags{URL: ns.ClientURL(), User: "alo"})
		wantRefused(t, err, cli.ErrNATSLogin, cli.EnvNATSPassword)
	})
	t.Run("token file", func(t *testing.T) {
		ns := natsServer(t, &server.Options{Authorization: "t0ken"})
		nc, err := connect(t, cli.NATSFlags{URL: ns.ClientURL(), TokenFile: file(t, "token", "t0ken\n")})
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, nc)
		_, err = connect(t, cli.NATSFlags{URL: ns.ClientURL(), TokenFile: file(t, "token", "other")})
		wantRefused(t, err, cli.ErrNATSLogin, "--nats-token-file")
	})
	t.Run("token from the environment", func(t *testing.T) {
		ns := natsServer(t, &server.Options{Authorization: "t0ken"})
		t.Setenv(cli.EnvNATSToken, "t0ken")
		nc, err := connect(t, cli.NATSFlags{URL: ns.ClientURL()})
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, nc)
	})
	t.Run("nkey", func(t *testing.T) {
		kp, _ := nkeys.CreateUser()
		pub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		ns := natsServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
		nc, err := connect(t, cli.NATSFlags{URL: ns.ClientURL(), NKey: file(t, "seed", string(seed))})
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, nc)
		other, _ := nkeys.CreateUser()
		otherSeed, _ := other.Seed()
		_, err = connect(t, cli.NATSFlags{URL: ns.ClientURL(), NKey: file(t, "seed", string(otherSeed))})
		wantRefused(t, err, cli.ErrNATSLogin, "--nats-nkey")
	})
	t.Run("creds", func(t *testing.T) {
		opts, creds := operator(t)
		ns := natsServer(t, opts)
		nc, err := connect(t, cli.NATSFlags{URL: ns.ClientURL(), Creds: creds})
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, nc)
		_, strangers := operator(t) // a user of an account this server does not trust
		_, err = connect(t, cli.NATSFlags{URL: ns.ClientURL(), Creds: strangers})
		wantRefused(t, err, cli.ErrNATSLogin, "--nats-creds")
	})
	t.Run("none given", func(t *testing.T) {
		ns := natsServer(t, &server.Options{Username: "alo", Password: "s3cret"})
		_, err := connect(t, cli.NATSFlags{URL: ns.ClientURL()})
		wantRefused(t, err, cli.ErrNATSLogin, "the server wants credentials")
	})
}

// Flags that contradict each other or name files that are not there are
// errors before anything connects.
func TestNATSFlagErrors(t *testing.T) {
	t.Setenv(cli.EnvNATSToken, "")
	t.Setenv(cli.EnvNATSPassword, "")
	missing := filepath.Join(t.TempDir(), "missing")
	for _, c := range []struct {
		name string
		f    cli.NATSFlags
		want string
	}{
		{"user without password", cli.NATSFlags{User: "alo"}, "needs a password"},
		{"password without user", cli.NATSFlags{PasswordFile: file(t, "pw", "x")}, "needs --nats-user"},
		{"two kinds", cli.NATSFlags{User: "alo", PasswordFile: file(t, "pw", "x"), TokenFile: file(t, "token", "y")}, "give one of"},
		{"empty token file", cli.NATSFlags{TokenFile: file(t, "token", "\n")}, "is empty"},
		{"missing password file", cli.NATSFlags{User: "alo", PasswordFile: missing}, "--nats-password-file"},
		{"missing nkey file", cli.NATSFlags{NKey: missing}, "--nats-nkey"},
		{"missing creds file", cli.NATSFlags{Creds: missing}, "--nats-creds"},
		{"garbage creds file", cli.NATSFlags{Creds: file(t, "creds", "not creds")}, "--nats-creds"},
		{"missing CA", cli.NATSFlags{TLSCA: missing}, "--nats-tls-ca"}, {"garbage CA", cli.NATSFlags{TLSCA: file(t, "ca", "x")}, "root certificate"},
		{"cert without key", cli.NATSFlags{TLSCert: file(t, "cert", "x")}, "go together"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.f.Options()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
}

// TLS to NATS with a CA the test makes: the client trusts the server's
// certificate through --nats-tls-ca, and without it the handshake fails at
// once; with mutual TLS the client's certificate gets it in, and its
// absence is a clear error.
func TestNATSTLS(t *testing.T) {
	ca := alotest.NewCA(t)
	serverCert, serverKey := ca.Issue(t, "server", true)
	clientCert, clientKey := ca.Issue(t, "client", false)
	tlsServer := func(t *testing.T, verify bool) *server.Server {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: serverCert, KeyFile: serverKey, CaFile: ca.File, Verify: verify})
		if err != nil {
			t.Fatal(err)
		}
		return natsServer(t, &server.Options{TLS: true, TLSConfig: tc, TLSVerify: verify, TLSTimeout: 5})
	}
	t.Run("server certificate", func(t *testing.T) {
		ns := tlsServer(t, false)
		nc, err := connect(t, cli.NATSFlags{URL: ns.ClientURL(), TLSCA: ca.File})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.TLSConnectionState(); err != nil {
			t.Fatalf("not TLS: %v", err)
		}
		roundTrip(t, nc)
		_, err = connect(t, cli.NATSFlags{URL: ns.ClientURL()})
		wantRefused(t, err, cli.ErrNATSTLS, "--nats-tls-ca")
	})
	t.Run("mutual", func(t *testing.T) {
		ns := tlsServer(t, true)
		nc, err := connect(t, cli.NATSFlags{URL: ns.ClientURL(), TLSCA: ca.File, TLSCert: clientCert, TLSKey: clientKey})
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, nc)
		_, err = connect(t, cli.NATSFlags{URL: ns.ClientURL(), TLSCA: ca.File})
		wantRefused(t, err, cli.ErrNATSTLS, "--nats-tls-cert")
	})
	t.Run("server without TLS", func(t *testing.T) {
		ns := natsServer(t, &server.Options{})
		_, err := connect(t, cli.NATSFlags{URL: ns.ClientURL(), TLSCA: ca.File})
		wantRefused(t, err, cli.ErrNATSTLS, "does not offer TLS")
	})
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// A server that is not up yet is waited for, as before (a stack starts its
// parts in any order); once it is up, a refused login or a failed handshake
// fails the process, and credentials it accepts connect.
func TestNATSServerUpLater(t *testing.T) {
	t.Setenv(cli.EnvNATSToken, "")
	ca := alotest.NewCA(t)
	serverCert, serverKey := ca.Issue(t, "server", true)
	for _, c := range []struct {
		name   string
		flags  cli.NATSFlags
		server func(port int) *server.Options
		want   error // nil: connects
	}{
		{"accepted", cli.NATSFlags{User: "alo", PasswordFile: file(t, "pw", "s3cret")},
			func(port int) *server.Options {
				return &server.Options{Port: port, Username: "alo", Password: "s3cret"}
			}, nil},
		{"wrong password", cli.NATSFlags{User: "alo", PasswordFile: file(t, "pw", "wrong")},
			func(port int) *server.Options {
				return &server.Options{Port: port, Username: "alo", Password: "s3cret"}
			}, cli.ErrNATSLogin},
		{"unknown CA", cli.NATSFlags{},
			func(port int) *server.Options {
				tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: serverCert, KeyFile: serverKey})
				if err != nil {
					t.Fatal(err)
				}
				return &server.Options{Port: port, TLS: true, TLSConfig: tc, TLSTimeout: 5}
			}, cli.ErrNATSTLS},
	} {
		t.Run(c.name, func(t *testing.T) {
			port := freePort(t)
			c.flags.URL = "nats://127.0.0.1:" + strconv.Itoa(port)
			ctx, failed := cli.WithFail(context.Background())
			nc, err := c.flags.Connect(ctx, "test", cli.Discard())
			if err != nil {
				t.Fatalf("connect before the server is up: %v", err)
			}
			defer nc.Close()
			natsServer(t, c.server(port))
			if c.want == nil {
				alotest.WaitFor(t, alotest.Timeout, "connected", nc.IsConnected)
				roundTrip(t, nc)
				if err := failed(); err != nil {
					t.Fatalf("failed: %v", err)
				}
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(alotest.Timeout):
				t.Fatal("the process was not failed")
			}
			if err := failed(); !errors.Is(err, c.want) {
				t.Fatalf("failed with %v, want %v", err, c.want)
			}
		})
	}
}
