package natssecrets

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The files GenerateDevAuth writes, for the compose stack's gateways with
// --auth jwt and TLS (docker-compose.yml).
const (
	JWTSecretFile = "jwt-secret"   // HS256 secret, 64 hex characters
	TLSCertFile   = "tls-cert.pem" // self-signed, for localhost and 127.0.0.1
	TLSKeyFile    = "tls-key.pem"
)

// GenerateDevAuth writes, into dir, a JWT secret and a self-signed TLS
// certificate valid for localhost and 127.0.0.1 for a week, unless they are
// there: a development stack's own, never a production one's (production
// tokens come from its identity provider, certificates from its CA).
func GenerateDevAuth(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("natssecrets: %w", err)
	}
	secret := filepath.Join(dir, JWTSecretFile)
	if _, err := os.Stat(secret); errors.Is(err, os.ErrNotExist) {
		var b [32]byte
		_, _ = rand.Read(b[:])
		if err := os.WriteFile(secret, []byte(hex.EncodeToString(b[:])+"\n"), 0o644); err != nil {
			return fmt.Errorf("natssecrets: %w", err)
		}
	}
	certFile, keyFile := filepath.Join(dir, TLSCertFile), filepath.Join(dir, TLSKeyFile)
	if _, err := os.Stat(certFile); err == nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("natssecrets: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "alo development"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own root: clients trust this file
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("natssecrets: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("natssecrets: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o644); err != nil {
		return fmt.Errorf("natssecrets: %w", err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("natssecrets: %w", err)
	}
	return nil
}
