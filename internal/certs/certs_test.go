package certs

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// ca is a certificate authority made in the test.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (c *ca) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// issue returns a PEM certificate and key with the given serial, for
// 127.0.0.1 (a server) or a client.
func (c *ca) issue(t *testing.T, serial int64, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// put replaces a file by rename, as cert-manager's atomic writer does per file.
func put(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve runs a TLS echo server (lines) with r's config until the test ends,
// and returns its address.
func serve(t *testing.T, r *Reloader) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(ctx) }()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		cancel()
		<-runDone
	})
	return ln.Addr().String()
}

// dial connects, checks an echo, and returns the connection.
func dial(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	if err := echo(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func echo(c *tls.Conn) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return errors.New("bad echo " + line)
	}
	return nil
}

func serial(c *tls.Conn) int64 { return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64() }

// TestRotation: a handshake works; a rotated pair is served to new
// connections without a restart while an open connection stays up; a
// half-done rotation (new cert beside the old key, a truncated key) keeps
// the old pair until a valid one appears.
func TestRotation(t *testing.T) {
	auth := newCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, k1 := auth.issue(t, 1, false)
	put(t, certFile, c1)
	put(t, keyFile, k1)
	r, err := New(Config{CertFile: certFile, KeyFile: keyFile, ReloadInterval: 10 * time.Millisecond}, discard())
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r)
	client := &tls.Config{RootCAs: auth.pool()}
	newSerial := func() int64 {
		c, err := dial(t, addr, client)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		return serial(c)
	}

	open, err := dial(t, addr, client)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if serial(open) != 1 {
		t.Fatalf("serial %d, want 1", serial(open))
	}

	c2, k2 := auth.issue(t, 2, false)
	put(t, certFile, c2)
	put(t, keyFile, k2)
	waitFor(t, "serial 2", func() bool { return newSerial() == 2 })
	if err := echo(open); err != nil {
		t.Fatalf("the open connection broke on rotation: %v", err)
	}
	if r.Leaf().SerialNumber.Int64() != 2 {
		t.Fatalf("Leaf serial %v", r.Leaf().SerialNumber)
	}

	c3, k3 := auth.issue(t, 3, false)
	put(t, certFile, c3) // the new cert beside the old key
	waitFor(t, "a mismatch error", func() bool { return r.ReloadError() != nil })
	mismatch := r.ReloadError()
	if s := newSerial(); s != 2 {
		t.Fatalf("mid-rotation serial %d, want 2 (the old pair)", s)
	}
	put(t, keyFile, k3[:len(k3)/2]) // half-written key
	waitFor(t, "a truncated-key error", func() bool {
		err := r.ReloadError()
		return err != nil && err.Error() != mismatch.Error()
	})
	if s := newSerial(); s != 2 {
		t.Fatalf("half-written key: serial %d, want 2", s)
	}
	put(t, keyFile, k3)
	waitFor(t, "serial 3", func() bool { return newSerial() == 3 })
	if r.ReloadError() != nil {
		t.Fatalf("reload error %v after a valid pair", r.ReloadError())
	}
	if err := echo(open); err != nil {
		t.Fatalf("the open connection broke: %v", err)
	}
}

func TestMutualTLS(t *testing.T) {
	auth, other := newCA(t), newCA(t)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	c, k := auth.issue(t, 1, false)
	put(t, certFile, c)
	put(t, keyFile, k)
	put(t, caFile, auth.pem)
	r, err := New(Config{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}, discard())
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, r)
	pair := func(ca *ca) []tls.Certificate {
		cp, kp := ca.issue(t, 9, true)
		p, err := tls.X509KeyPair(cp, kp)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{p}
	}
	for _, tt := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"client cert from the CA", pair(auth), true},
		{"no client cert", nil, false},
		{"client cert from another CA", pair(other), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := dial(t, addr, &tls.Config{RootCAs: auth.pool(), Certificates: tt.certs})
			if conn != nil {
				conn.Close()
			}
			if tt.ok != (err == nil) {
				t.Fatalf("err %v, want ok %v", err, tt.ok)
			}
			var ne net.Error
			if err != nil && errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("refused by a timeout, not by the server: %v", err)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	auth := newCA(t)
	dir := t.TempDir()
	c1, _ := auth.issue(t, 1, false)
	_, k2 := auth.issue(t, 2, false)
	certFile, keyFile := filepath.Join(dir, "c"), filepath.Join(dir, "k")
	put(t, certFile, c1)
	put(t, keyFile, k2)
	for name, cfg := range map[string]Config{
		"no files":   {},
		"mismatched": {CertFile: certFile, KeyFile: keyFile},
		"missing":    {CertFile: filepath.Join(dir, "none"), KeyFile: keyFile},
		"bad CA":     {CertFile: certFile, KeyFile: keyFile, ClientCAFile: keyFile},
		"negative":   {CertFile: certFile, KeyFile: keyFile, ReloadInterval: -1},
	} {
		if _, err := New(cfg, discard()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
