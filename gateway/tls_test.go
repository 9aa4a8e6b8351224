package gateway_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/internal/certs"
	"github.com/alo-presence/alo/internal/cli"
	"github.com/alo-presence/alo/presence"
)

// tlsSystem runs NATS, presence and a gateway whose TCP and HTTP ports
// serve TLS with a certificate of a test CA, reloaded every 20ms.
func tlsSystem(t *testing.T, cfg gateway.Config) (*alotest.CA, *certs.Reloader, alotest.Addrs) {
	t.Helper()
	ca := alotest.NewCA(t)
	certFile, keyFile := ca.Issue(t, "gateway", true)
	r, err := certs.New(certs.Config{CertFile: certFile, KeyFile: keyFile, ReloadInterval: 20 * time.Millisecond}, cli.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	tlsCfg := r.TLSConfig()
	tlsCfg.NextProtos = []string{"http/1.1"}
	_, a, _ := alotest.GatewayTLS(t, ns, cfg, gateway.WSConfig{}, gateway.UDPConfig{}, tlsCfg)
	return ca, r, a
}

// TLS on both client ports: a TCP client and a WSS client see each other.
func TestTLSOverTCPAndWSS(t *testing.T) {
	ca, _, a := tlsSystem(t, gateway.Config{})
	c1, _ := alotest.ConnectTLS(t, a.TCP, ca.ClientConfig(), 1, 2)
	c2, snap := alotest.ConnectWSS(t, a.WS, ca.ClientConfig(), 2, 1)
	if len(snap) != 1 || snap[0] != 1 {
		t.Fatalf("wss snapshot %v, want [1]", snap)
	}
	c1.ExpectState(2, true)
	c2.Send(`{"online": false}`)
	c2.ExpectClosed()
	c1.ExpectState(2, false)
}

// Plain TCP sent to the TLS port is closed, not held: a hello in clear at
// once (it is no TLS record), silence by the hello deadline. Plain HTTP to
// the HTTPS port is answered or closed too.
func TestTLSPortRefusesPlainTCP(t *testing.T) {
	_, _, a := tlsSystem(t, gateway.Config{HelloTimeout: 300 * time.Millisecond})
	closedWithin := func(t *testing.T, c net.Conn, within time.Duration) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(alotest.Timeout))
		start := time.Now()
		_, err := io.Copy(io.Discard, c)
		if err != nil {
			t.Fatalf("read: %v, want the server to close", err)
		}
		if d := time.Since(start); d > within {
			t.Fatalf("closed after %v, want within %v", d, within)
		}
	}
	for _, tc := range []struct {
		name string
		send string
	}{
		{"hello in clear", alotest.Hello(1, 2) + "\n"},
		{"silence", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", a.TCP)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.send != "" {
				if _, err := c.Write([]byte(tc.send)); err != nil {
					t.Fatal(err)
				}
			}
			closedWithin(t, c, 5*time.Second)
		})
	}
	t.Run("http in clear", func(t *testing.T) {
		c, err := net.Dial("tcp", a.HTTP)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("plain http to https: %s, want 400", resp.Status)
			}
		}
		closedWithin(t, c, 5*time.Second)
	})
}

// A certificate replaced on disk is served to new handshakes, and the
// sessions opened under the old one carry on.
func TestTLSCertRotationKeepsSessions(t *testing.T) {
	ca, r, a := tlsSystem(t, gateway.Config{})
	old := r.Leaf().SerialNumber
	c1, _ := alotest.ConnectTLS(t, a.TCP, ca.ClientConfig(), 1, 2)
	ca.Issue(t, "gateway", true) // rewrites the same two files
	serial := func() *big.Int {
		c, err := tls.Dial("tcp", a.TCP, ca.ClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber
	}
	alotest.WaitFor(t, alotest.Timeout, "the new certificate on new handshakes", func() bool {
		return serial().Cmp(old) != 0
	})
	// The old session still works both ways.
	c2, snap := alotest.ConnectTLS(t, a.TCP, ca.ClientConfig(), 2, 1)
	if len(snap) != 1 || snap[0] != 1 {
		t.Fatalf("snapshot %v, want [1]: the session from before the rotation is gone", snap)
	}
	c1.ExpectState(2, true)
	c2.Close()
	c1.ExpectState(2, false)
}

// With a client CA, a client without a certificate it signed gets no
// session; one with such a certificate does.
func TestTLSClientCertificates(t *testing.T) {
	ca := alotest.NewCA(t)
	certFile, keyFile := ca.Issue(t, "gateway", true)
	r, err := certs.New(certs.Config{CertFile: certFile, KeyFile: keyFile, ClientCAFile: ca.File}, cli.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, a, _ := alotest.GatewayTLS(t, ns, gateway.Config{}, gateway.WSConfig{}, gateway.UDPConfig{}, r.TLSConfig())

	c, err := tls.Dial("tcp", a.TCP, ca.ClientConfig())
	if err == nil {
		// TLS 1.3: the server's refusal comes with the first read.
		_, _ = c.Write([]byte(alotest.Hello(1) + "\n"))
		_ = c.SetReadDeadline(time.Now().Add(alotest.Timeout))
		if _, err = c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a client without a certificate was served")
		}
		c.Close()
	}
	cc, ck := ca.Issue(t, "client", false)
	pair, err := tls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ca.ClientConfig()
	cfg.Certificates = []tls.Certificate{pair}
	alotest.ConnectTLS(t, a.TCP, cfg, 1)
}
