// Package certs serves a TLS certificate from files that are replaced while
// the process runs (cert-manager, a Kubernetes secret mount), with optional
// mutual TLS.
//
// The pair is re-read when either file's content changes. cert-manager
// rewrites both files, and not atomically as a pair: for a moment the new
// certificate may sit beside the old key, or a file may be half-written. Such
// a state does not load, so the previous pair stays in use (and the error is
// logged once and kept for ReloadError) until a valid pair appears. Existing
// connections keep the certificate they were opened with; new handshakes get
// the current one.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/alo-presence/alo/internal/filewatch"
)

// Config names the files.
type Config struct {
	// CertFile is the PEM certificate chain, leaf first. Required.
	CertFile string
	// KeyFile is the PEM private key of the leaf. Required.
	KeyFile string
	// ClientCAFile, when set, is a PEM bundle of CAs: every client must
	// present a certificate that chains to one of them
	// (tls.RequireAndVerifyClientCert). It is read once, at New: a CA
	// changes rarely and on purpose, so it is left to a restart rather than
	// swapped under live handshakes. Default "": no client certificates.
	ClientCAFile string
	// ReloadInterval is how often Run re-reads CertFile and KeyFile.
	// Default 5 s.
	ReloadInterval time.Duration
}

// DefaultReloadInterval is Config.ReloadInterval's default.
const DefaultReloadInterval = 5 * time.Second

// ErrConfig is wrapped by every error about the Config or the files.
var ErrConfig = errors.New("certs: bad config")

// Reloader holds the current certificate.
type Reloader struct {
	cert  atomic.Pointer[tls.Certificate]
	watch *filewatch.Watcher
	base  *tls.Config
}

// New loads the pair (and the client CAs) and fails if they do not load.
func New(cfg Config, log *slog.Logger) (*Reloader, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, fmt.Errorf("%w: both a certificate file and a key file are needed", ErrConfig)
	}
	if cfg.ReloadInterval < 0 {
		return nil, fmt.Errorf("%w: reload interval must not be negative", ErrConfig)
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	r := &Reloader{}
	r.base = &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cert.Load(), nil
		},
	}
	if cfg.ClientCAFile != "" {
		pem, err := filewatch.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client CA: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: client CA %s: no PEM certificate", ErrConfig, cfg.ClientCAFile)
		}
		r.base.ClientCAs = pool
		r.base.ClientAuth = tls.RequireAndVerifyClientCert
	}
	w, err := filewatch.New("tls certificate", []string{cfg.CertFile, cfg.KeyFile}, cfg.ReloadInterval, log, r.load)
	if err != nil {
		return nil, err
	}
	r.watch = w
	return r, nil
}

// load checks that the certificate and key are a pair before swapping them in.
func (r *Reloader) load(c [][]byte) error {
	pair, err := tls.X509KeyPair(c[0], c[1])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	r.cert.Store(&pair)
	return nil
}

// TLSConfig returns a server config that serves the current certificate
// (and asks for client certificates when a client CA is configured). It is
// a new copy each time, for the caller to change as it needs (NextProtos).
func (r *Reloader) TLSConfig() *tls.Config { return r.base.Clone() }

// Leaf returns the certificate being served now.
func (r *Reloader) Leaf() *x509.Certificate { return r.cert.Load().Leaf }

// Run re-reads the files every Config.ReloadInterval until ctx is done, and
// returns nil then.
func (r *Reloader) Run(ctx context.Context) error { return r.watch.Run(ctx) }

// ReloadError returns why the files' current content is not in use (the
// previous pair is), or nil when it is. For readiness checks.
func (r *Reloader) ReloadError() error { return r.watch.Err() }
