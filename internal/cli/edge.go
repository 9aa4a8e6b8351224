package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/alo-presence/alo/auth"
	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/certs"
)

// EdgeFlags are what a gateway needs to face clients it does not trust
// (DESIGN §7): who may connect as whom (--auth and the --jwt-* keys), where
// friend lists come from (--friends), and TLS on the client TCP port and
// the HTTP port.
type EdgeFlags struct {
	Auth       string
	SecretFile string
	PublicKeys listFlag
	JWKSFile   string
	Issuer     string
	Audience   string
	Leeway     time.Duration
	Friends    string

	TLSCert, TLSKey, TLSClientCA string

	dev bool
}

// Register adds the flags to fs. dev is for the dev binary: its --auth
// defaults to none (the nc quick start), and --auth jwt without a key uses
// the dev secret that `alo token` signs with. Otherwise --auth defaults to
// jwt and needs a key.
func (e *EdgeFlags) Register(fs *flag.FlagSet, dev bool) {
	e.dev = dev
	def := "jwt"
	if dev {
		def = "none"
	}
	fs.StringVar(&e.Auth, "auth", def, "client authentication `mode`: none (trust the hello's user_id) or jwt (the hello must carry a token whose sub is the user)")
	secretUsage := "`file` holding the HS256 secret (at least 32 bytes; a trailing newline is ignored)"
	if dev {
		secretUsage += " (default with --auth jwt and no other key: the dev secret `alo token` signs with, " + devSecretShown() + ")"
	}
	fs.StringVar(&e.SecretFile, "jwt-secret-file", "", secretUsage)
	fs.Var(&e.PublicKeys, "jwt-public-key", "PEM public key `files` (RSA: RS256, EC: ES256, Ed25519: EdDSA), comma-separated or the flag repeated")
	fs.StringVar(&e.JWKSFile, "jwks-file", "", "JSON Web Key Set `file`, re-read when it changes (key rotation); tokens pick a key by kid")
	fs.StringVar(&e.Issuer, "jwt-issuer", "", "required token `iss` (default: not checked)")
	fs.StringVar(&e.Audience, "jwt-audience", "", "required member of the token's `aud` (default: not checked)")
	e.Leeway = auth.DefaultLeeway
	PositiveVar(fs, &e.Leeway, "jwt-leeway", "clock skew allowed on a token's exp, nbf and iat; a session also ends this long after its token's exp")
	fs.StringVar(&e.Friends, "friends", string(gateway.FriendsClient), "where friend lists come from: client (the hello's), token (the token's friends claim), or kv (a JetStream KV bucket the deployment's backend writes: --friends-bucket); with token and kv a client's list is refused")
	fs.StringVar(&e.TLSCert, "tls-cert", "", "PEM certificate chain `file` for TLS on the client TCP port and the HTTP port (WSS); re-read when it changes")
	fs.StringVar(&e.TLSKey, "tls-key", "", "PEM private key `file` of --tls-cert")
	fs.StringVar(&e.TLSClientCA, "tls-client-ca", "", "PEM CA bundle `file`: clients must present a certificate it signed (mutual TLS)")
}

func devSecretShown() string {
	if p, err := auth.DefaultDevSecretPath(); err == nil {
		return p
	}
	return "~/.config/alo/" + auth.DevSecretName
}

// Errors of Setup.
var (
	ErrNoJWTKey = errors.New("--auth jwt needs a key: --jwt-secret-file, --jwt-public-key or --jwks-file (or --auth none to trust the hello's user_id)")
	ErrTLSPair  = errors.New("--tls-cert and --tls-key go together")
)

// Edge is what EdgeFlags set up: the token verifier and the TLS
// certificate, each reloaded from its files while Run runs.
type Edge struct {
	Verifier *auth.Verifier  // nil with --auth none
	Certs    *certs.Reloader // nil without TLS
	reloads  []func(context.Context) error
}

// Setup checks the flags, loads the keys and the certificate, and sets
// what they decide in cfg (Auth, TokenLeeway, Friends). Call it after
// GatewayFlags' Config, whose MaxFriends it passes on.
func (e *EdgeFlags) Setup(log *slog.Logger, cfg *gateway.Config) (*Edge, error) {
	var edge Edge
	mode, ok := gateway.ParseFriendsMode(e.Friends)
	if !ok {
		return nil, fmt.Errorf("--friends: %q is not client, token or kv", e.Friends)
	}
	cfg.Friends = mode
	switch e.Auth {
	case "none":
		if mode == gateway.FriendsToken {
			return nil, errors.New("--friends token needs --auth jwt: there is no token to read the friends claim from")
		}
	case "jwt":
		acfg := auth.Config{
			SecretFile: e.SecretFile, PublicKeyFiles: e.PublicKeys, JWKSFile: e.JWKSFile,
			Issuer: e.Issuer, Audience: e.Audience, Leeway: e.Leeway, MaxFriends: cfg.MaxFriends,
		}
		if acfg.SecretFile == "" && len(acfg.PublicKeyFiles) == 0 && acfg.JWKSFile == "" {
			if !e.dev {
				return nil, ErrNoJWTKey
			}
			path, err := auth.DevSecretFile("")
			if err != nil {
				return nil, err
			}
			acfg.SecretFile = path
			log.Info("auth jwt with the dev secret; mint a token with `alo token --user <id>`", "file", path)
		}
		v, err := auth.NewVerifier(acfg, log.With("component", "auth"))
		if err != nil {
			return nil, fmt.Errorf("--auth jwt: %w", err)
		}
		edge.Verifier = v
		edge.reloads = append(edge.reloads, v.Run)
		cfg.Auth = v // only a non-nil *Verifier: a nil one in the interface would not be "none"
		cfg.TokenLeeway = e.Leeway
	default:
		return nil, fmt.Errorf("--auth: %q is not none or jwt", e.Auth)
	}
	switch {
	case e.TLSCert == "" && e.TLSKey == "":
		if e.TLSClientCA != "" {
			return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key")
		}
	case e.TLSCert == "" || e.TLSKey == "":
		return nil, ErrTLSPair
	default:
		r, err := certs.New(certs.Config{CertFile: e.TLSCert, KeyFile: e.TLSKey, ClientCAFile: e.TLSClientCA}, log.With("component", "tls"))
		if err != nil {
			return nil, fmt.Errorf("--tls-cert: %w", err)
		}
		edge.Certs = r
		edge.reloads = append(edge.reloads, r.Run)
	}
	return &edge, nil
}

// Run follows the key and certificate files until ctx is done.
func (e *Edge) Run(ctx context.Context) error {
	if e == nil || len(e.reloads) == 0 {
		<-ctx.Done()
		return nil
	}
	return RunAll(ctx, e.reloads...)
}

// TLSConfig returns the TLS configuration of the client ports, or nil
// without TLS.
func (e *Edge) TLSConfig() *tls.Config {
	if e == nil || e.Certs == nil {
		return nil
	}
	c := e.Certs.TLSConfig()
	// HTTP/1.1 only: a WebSocket is an HTTP/1.1 upgrade.
	c.NextProtos = []string{"http/1.1"}
	return c
}

// Warnings returns what is degraded but still serving: a key or
// certificate file whose new content did not load, so the previous one is
// in use. For /readyz.
func (e *Edge) Warnings() []error {
	if e == nil {
		return nil
	}
	var w []error
	if e.Verifier != nil {
		if err := e.Verifier.ReloadError(); err != nil {
			w = append(w, fmt.Errorf("jwt keys: %w", err))
		}
	}
	if e.Certs != nil {
		if err := e.Certs.ReloadError(); err != nil {
			w = append(w, fmt.Errorf("tls certificate: %w", err))
		}
	}
	return w
}

// listFlag is a flag of file names, comma-separated or repeated.
type listFlag []string

func (l *listFlag) String() string {
	if l == nil { // the flag package's zero-value probe
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
