package natssecrets

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Generate writes a password per user and their hashes; run again, it keeps
// the passwords (a restarted stack logs in as before) and the hashes still
// match them.
func TestGenerateKeepsPasswords(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	users := Users(2)
	if err := Generate(dir, users, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	first := map[string]string{}
	for _, u := range users {
		pw, err := Password(dir, u)
		if err != nil || len(pw) < 32 {
			t.Fatalf("%s: %q, %v", u, pw, err)
		}
		first[u] = pw
	}
	if err := Generate(dir, users, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(dir, HashesFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if pw, _ := Password(dir, u); pw != first[u] {
			t.Errorf("%s's password changed", u)
		}
		_, rest, ok := strings.Cut(string(conf), Variable(u)+": \"")
		hash, _, _ := strings.Cut(rest, "\"")
		if !ok || bcrypt.CompareHashAndPassword([]byte(hash), []byte(first[u])) != nil {
			t.Errorf("%s: no matching hash in %s", u, HashesFile)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("secrets directory mode %v, want 0700", fi.Mode().Perm())
	}
}

// The dev certificate serves TLS for 127.0.0.1 and localhost to a client
// that trusts the certificate file itself.
func TestGenerateDevAuth(t *testing.T) {
	dir := t.TempDir()
	if err := GenerateDevAuth(dir); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, TLSCertFile), filepath.Join(dir, TLSKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	pemData, _ := os.ReadFile(filepath.Join(dir, TLSCertFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	for _, name := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	secret, _ := os.ReadFile(filepath.Join(dir, JWTSecretFile))
	if len(strings.TrimSpace(string(secret))) < 32 {
		t.Errorf("secret %q too short", secret)
	}
}
