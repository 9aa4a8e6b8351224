package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/alo-presence/alo/auth"
	"github.com/alo-presence/alo/shared"
)

var (
	flagJWTSecret = flag.String("jwt-secret", "", "`file` of the gateways' HS256 secret: clients log in with tokens minted with it (--auth jwt)")
	flagTLSCA     = flag.String("tls-ca", "", "`file` of the CA (or self-signed certificate) of the gateways' TLS: clients and HTTP checks speak TLS")

	jwtSecret []byte
	tlsConfig *tls.Config
)

func setupAuth() error {
	if *flagJWTSecret != "" {
		b, err := os.ReadFile(*flagJWTSecret)
		if err != nil {
			return err
		}
		jwtSecret = b
	}
	if *flagTLSCA != "" {
		pem, err := os.ReadFile(*flagTLSCA)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no certificate", *flagTLSCA)
		}
		tlsConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return nil
}

// dialGateway connects to a gateway's client port, over TLS when -tls-ca.
func dialGateway(gw container) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if tlsConfig != nil {
		return tls.DialWithDialer(d, "tcp", gw.Addr, tlsConfig)
	}
	return d.Dial("tcp", gw.Addr)
}

// helloFor is user id's hello: with a token minted with -jwt-secret when
// set (friends still from the hello: the stack runs --friends client).
func helloFor(id int64, friends []int64) ([]byte, error) {
	if jwtSecret == nil {
		return shared.AppendHello(nil, id, friends), nil
	}
	tok, err := auth.Mint(jwtSecret, auth.MintOptions{UserID: id, TTL: time.Hour})
	if err != nil {
		return nil, err
	}
	if friends == nil {
		friends = []int64{}
	}
	return shared.AppendHelloWith(nil, shared.Hello{Token: tok, Friends: friends}), nil
}

// checkAuth proves the gateways' client auth from outside: over TLS, a
// hello without a token, or with one signed by another secret, is refused;
// the connected clients (tokens minted with the stack's secret) worked.
func checkAuth(gw container) {
	step("client identity: --auth jwt%s", map[bool]string{true: " over TLS", false: ""}[tlsConfig != nil])
	ok("every client above logged in with a token minted with the stack's secret")
	other, _ := auth.Mint([]byte("a-secret-that-is-not-the-stacks-0123456789"), auth.MintOptions{UserID: 1})
	for _, c := range []struct {
		what  string
		hello []byte
	}{
		{"a hello without a token", shared.AppendHello(nil, 1, nil)},
		{"a token signed with another secret", shared.AppendHelloWith(nil, shared.Hello{Token: other})},
	} {
		conn, err := dialGateway(gw)
		if err != nil {
			fail("%s: connect to %s: %v", c.what, gw.Name, err)
			continue
		}
		cl := &client{id: 1, gw: gw, conn: conn, changed: make(chan struct{}),
			snap: map[int64]bool{}, view: map[int64]bool{}, offAt: map[int64]time.Time{}}
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(append(c.hello, '\n')); err != nil {
			fail("%s: write: %v", c.what, err)
			conn.Close()
			continue
		}
		go cl.read()
		refused := cl.waitFor(*flagDeadline, func() bool { return len(cl.errs) > 0 && !cl.eof.IsZero() })
		cl.mu.Lock()
		errs, ready := cl.errs, cl.ready
		cl.mu.Unlock()
		check(refused && !ready, "%s is refused with an error and a close: %q", c.what, errs)
		conn.Close()
	}
	if tlsConfig != nil {
		conn, err := net.DialTimeout("tcp", gw.Addr, 5*time.Second)
		if err == nil {
			conn.SetDeadline(time.Now().Add(*flagDeadline))
			conn.Write([]byte(`{"user_id":1}` + "\n"))
			buf := make([]byte, 256)
			n, _ := conn.Read(buf)
			conn.Close()
			check(n == 0 || buf[0] != '{', "plain TCP to the TLS port gets no JSON back (%q)", buf[:n])
		}
	}
}
