package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/shared"
)

var (
	// ErrNATSLogin is a NATS server refusing the credentials (or their
	// absence) at start.
	ErrNATSLogin = errors.New("cli: nats refused the login")
	// ErrNATSTLS is a TLS handshake with NATS failing at start.
	ErrNATSTLS = errors.New("cli: nats tls failed")
	// ErrNATSFlags is a contradiction among the --nats-* flags.
	ErrNATSFlags = errors.New("cli: nats flags")
)

// Environment variables that carry a secret itself rather than a file
// naming it. They are not flags, so a secret never has to be on a command
// line, where every user of the machine can read it.
const (
	EnvNATSPassword = "ALO_NATS_PASSWORD"
	EnvNATSToken    = "ALO_NATS_TOKEN"
)

// NATSFlags say where NATS is and how to log in to it. Secrets are read from
// the files the flags name, or from EnvNATSPassword and EnvNATSToken.
type NATSFlags struct {
	// URL is --nats, NATS server URLs, comma-separated. Default
	// nats://127.0.0.1:4222.
	URL string

	// Creds is --nats-creds, a NATS credentials file (user JWT and NKey
	// seed). Default none.
	Creds string
	// NKey is --nats-nkey, a file holding an NKey seed (SU...). Default none.
	NKey string
	// User is --nats-user; its password comes from PasswordFile or
	// EnvNATSPassword. Default none.
	User string
	// PasswordFile is --nats-password-file. Default none.
	PasswordFile string
	// TokenFile is --nats-token-file; without it the token comes from
	// EnvNATSToken. Default none.
	TokenFile string

	// TLSCA is --nats-tls-ca, PEM CA certificates that sign the server's
	// certificate. Default the system's roots, and TLS only when the server
	// requires it.
	TLSCA string
	// TLSCert and TLSKey are --nats-tls-cert and --nats-tls-key, a client
	// certificate and its key for servers that verify clients. Default none.
	TLSCert, TLSKey string
}

// Register adds --nats, the credential flags and the TLS flags to fs.
func (f *NATSFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.URL, "nats", "nats://127.0.0.1:4222", "NATS server `URLs`, comma-separated")
	f.RegisterCredentials(fs)
	fs.StringVar(&f.TLSCA, "nats-tls-ca", "", "`file` of PEM CA certificates for the NATS server's certificate (default: the system's; TLS is used when given or when the server requires it)")
	fs.StringVar(&f.TLSCert, "nats-tls-cert", "", "`file` with a PEM client certificate for NATS servers that verify clients (with --nats-tls-key)")
	fs.StringVar(&f.TLSKey, "nats-tls-key", "", "`file` with the PEM key of --nats-tls-cert")
}

// RegisterCredentials adds only the credential flags to fs.
func (f *NATSFlags) RegisterCredentials(fs *flag.FlagSet) {
	fs.StringVar(&f.Creds, "nats-creds", "", "NATS credentials `file` (user JWT and NKey seed, as nsc writes it)")
	fs.StringVar(&f.NKey, "nats-nkey", "", "`file` holding the NKey seed to log in to NATS with")
	fs.StringVar(&f.User, "nats-user", "", "NATS user `name`; the password comes from --nats-password-file or "+EnvNATSPassword)
	fs.StringVar(&f.PasswordFile, "nats-password-file", "", "`file` holding the password of --nats-user (default: "+EnvNATSPassword+")")
	fs.StringVar(&f.TokenFile, "nats-token-file", "", "`file` holding a NATS token (default: "+EnvNATSToken+")")
}

// kind names the credential the flags give, for hints: "creds", "nkey",
// "user", "token" or "" for none.
func (f *NATSFlags) kind() string {
	switch {
	case f.Creds != "":
		return "creds"
	case f.NKey != "":
		return "nkey"
	case f.User != "":
		return "user"
	case f.TokenFile != "" || os.Getenv(EnvNATSToken) != "":
		return "token"
	}
	return ""
}

// Options returns the nats.go options for the credentials and TLS the flags
// give, having read every file they name, so that a missing or unreadable
// file is an error now rather than at the first connect.
func (f *NATSFlags) Options() ([]nats.Option, error) {
	for _, file := range []struct{ flag, name string }{
		{"--nats-creds", f.Creds}, {"--nats-nkey", f.NKey}, {"--nats-password-file", f.PasswordFile},
		{"--nats-token-file", f.TokenFile}, {"--nats-tls-ca", f.TLSCA}, {"--nats-tls-cert", f.TLSCert}, {"--nats-tls-key", f.TLSKey},
	} {
		if file.name == "" {
			continue
		}
		if _, err := os.Stat(file.name); err != nil {
			return nil, fmt.Errorf("%s: %w", file.flag, err)
		}
	}
	var opts []nats.Option
	kinds := 0
	if f.Creds != "" {
		kinds++
		opts = append(opts, nats.UserCredentials(f.Creds))
	}
	if f.NKey != "" {
		kinds++
		o, err := nats.NkeyOptionFromSeed(f.NKey)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if f.User != "" {
		kinds++
		password, err := secret(f.PasswordFile, EnvNATSPassword)
		if err != nil {
			return nil, fmt.Errorf("--nats-password-file: %w", err)
		}
		if password == "" {
			return nil, fmt.Errorf("%w: --nats-user %q needs a password: --nats-password-file or %s", ErrNATSFlags, f.User, EnvNATSPassword)
		}
		opts = append(opts, nats.UserInfo(f.User, password))
	} else if f.PasswordFile != "" {
		return nil, fmt.Errorf("%w: --nats-password-file needs --nats-user", ErrNATSFlags)
	}
	token, err := secret(f.TokenFile, EnvNATSToken)
	if err != nil {
		return nil, fmt.Errorf("--nats-token-file: %w", err)
	}
	if token != "" {
		kinds++
		opts = append(opts, nats.Token(token))
	} else if f.TokenFile != "" {
		return nil, fmt.Errorf("%w: --nats-token-file %s is empty", ErrNATSFlags, f.TokenFile)
	}
	if kinds > 1 {
		return nil, fmt.Errorf("%w: give one of --nats-creds, --nats-nkey, --nats-user or a token (--nats-token-file, %s)", ErrNATSFlags, EnvNATSToken)
	}
	if f.TLSCA != "" {
		opts = append(opts, nats.RootCAs(f.TLSCA))
	}
	if (f.TLSCert == "") != (f.TLSKey == "") {
		return nil, fmt.Errorf("%w: --nats-tls-cert and --nats-tls-key go together", ErrNATSFlags)
	}
	if f.TLSCert != "" {
		opts = append(opts, nats.ClientCert(f.TLSCert, f.TLSKey))
	}
	// Apply them once to see every file read and parsed; a creds file is
	// only read by nats.go when it connects, so ask for its parts here.
	o := nats.GetDefaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNATSFlags, err)
		}
	}
	if f.Creds != "" {
		if _, err := o.UserJWT(); err != nil {
			return nil, fmt.Errorf("--nats-creds: %w", err)
		}
		if _, err := o.SignatureCB([]byte("nonce")); err != nil {
			return nil, fmt.Errorf("--nats-creds: %w", err)
		}
	}
	return opts, nil
}

// secret reads a secret from file, or else from the environment variable
// env, without the line end an editor leaves.
func secret(file, env string) (string, error) {
	if file == "" {
		return os.Getenv(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Connect connects to f.URL with NATSOptions and the flags' credentials and
// TLS, and returns once the server has answered the first time:
//
//   - the server accepts: the connection is returned, and reconnects forever
//     afterwards;
//   - it refuses the login or the TLS handshake fails: the error, wrapping
//     ErrNATSLogin or ErrNATSTLS and naming the flags to check, so the
//     process exits instead of running without a bus;
//   - it is not reachable (not up yet, say, in a compose stack starting up):
//     a connection that keeps trying in the background is returned. If the
//     server, once up, refuses the login or the handshake, the process is
//     failed through Fail(ctx), which Main turns into its exit status.
//
// Later, if NATS closes the connection for good (it refused the same
// credentials twice after a reconnect), the process is failed the same way.
func (f *NATSFlags) Connect(ctx context.Context, name string, log *slog.Logger) (*nats.Conn, error) {
	return f.ConnectWith(ctx, name, log)
}

// ConnectWith is Connect with more options after the flags' own (alo adds
// nats.InProcessServer, and the token it made up).
func (f *NATSFlags) ConnectWith(ctx context.Context, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	creds, err := f.Options()
	if err != nil {
		return nil, err
	}
	return connect(ctx, f.URL, name, log, f.explain, append(creds, extra...)...)
}

// connect is Connect for any options; explain turns a fatal error into the
// one reported.
func connect(ctx context.Context, url, name string, log *slog.Logger, explain func(where string, err error) error, extra ...nats.Option) (*nats.Conn, error) {
	where := url
	if where == "" {
		where = "in process"
	}
	connected := make(chan struct{})
	var once sync.Once
	opts := append(NATSOptions(name, log), extra...)
	opts = append(opts,
		nats.ConnectHandler(func(*nats.Conn) { once.Do(func() { close(connected) }) }),
		nats.ClosedHandler(func(nc *nats.Conn) {
			// Our own Close happens once ctx is done or the run is over;
			// only a close nats.go decided on is a failure.
			if err := nc.LastError(); ctx.Err() == nil && fatal(err) {
				failOrLog(ctx, log, explain(where, err))
			}
		}),
	)
	nc, err := nats.Connect(url, append(opts, nats.RetryOnFailedConnect(false))...)
	if err == nil {
		return nc, nil
	}
	if fatal(err) {
		return nil, explain(where, err)
	}
	if !unreachable(err) {
		return nil, fmt.Errorf("nats %s: %w", where, err)
	}
	log.Warn("nats not reachable yet, retrying", "url", url, "err", err)
	nc, err = nats.Connect(url, append(opts, nats.RetryOnFailedConnect(true))...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	go watchFirstConnect(ctx, nc, connected, log, func(err error) error { return explain(where, err) })
	return nc, nil
}

// watchFirstConnect waits for a connection started before its server was
// reachable to connect. nats.go retries a refused login or a failed
// handshake silently until then, so its last error is looked at while it
// tries: a fatal one closes the connection and fails the process.
func watchFirstConnect(ctx context.Context, nc *nats.Conn, connected <-chan struct{}, log *slog.Logger, explain func(error) error) {
	// The retry waits at least 100ms between attempts, and the error stays
	// the last error while it waits, so polling at 25ms sees each one.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-connected:
			return
		case <-tick.C:
			if err := nc.LastError(); fatal(err) {
				failOrLog(ctx, log, explain(err))
				nc.Close()
				return
			}
			if nc.IsClosed() {
				return
			}
		}
	}
}

// fatal reports whether err is NATS refusing the credentials or TLS
// failing: retrying with the same settings cannot help.
func fatal(err error) bool { return authError(err) || tlsError(err) }

func authError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired)
}

func tlsError(err error) bool {
	return remoteTLSAlert(err) || localTLSError(err)
}

// remoteTLSAlert reports whether err is the server refusing the handshake,
// which crypto/tls reports as a net.OpError "remote error" around an
// unexported alert type.
func remoteTLSAlert(err error) bool {
	var op *net.OpError
	var alert tls.AlertError
	return errors.As(err, &op) && op.Op == "remote error" || errors.As(err, &alert)
}

func localTLSError(err error) bool {
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	return errors.As(err, &verify) || errors.As(err, &header) ||
		errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) ||
		errors.Is(err, nats.ErrSecureConnWanted) || errors.Is(err, nats.ErrSecureConnRequired) ||
		errors.Is(err, nats.ErrTLS)
}

// unreachable reports whether err means no server answered: worth waiting
// for, as a stack starts its parts in any order.
func unreachable(err error) bool {
	var netErr net.Error
	return errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrTimeout) ||
		errors.As(err, &netErr) || errors.Is(err, os.ErrDeadlineExceeded)
}

// explain wraps a fatal error with its sentinel and the flags to check.
func (f *NATSFlags) explain(where string, err error) error {
	if authError(err) {
		var hint string
		switch f.kind() {
		case "creds":
			hint = "check --nats-creds"
		case "nkey":
			hint = "check --nats-nkey (the server must know its public key)"
		case "user":
			hint = "check --nats-user and --nats-password-file (or " + EnvNATSPassword + ")"
		case "token":
			hint = "check --nats-token-file (or " + EnvNATSToken + ")"
		case "":
			if strings.Contains(f.URL, "@") {
				hint = "check the user and password in --nats"
				break
			}
			fallthrough
		default:
			hint = "the server wants credentials: give --nats-creds, --nats-nkey, --nats-user with --nats-password-file, or --nats-token-file"
		}
		return fmt.Errorf("%w (%s): %w: %s", ErrNATSLogin, where, err, hint)
	}
	hint := "check --nats-tls-ca, --nats-tls-cert and --nats-tls-key"
	switch {
	case errors.As(err, new(x509.UnknownAuthorityError)), errors.As(err, new(*tls.CertificateVerificationError)):
		hint = "check --nats-tls-ca (the CA that signed the server's certificate)"
	case errors.Is(err, nats.ErrSecureConnWanted):
		hint = "the server does not offer TLS, but --nats-tls-* asked for it"
	case f.TLSCert == "" && (remoteTLSAlert(err) || errors.Is(err, nats.ErrTLS)):
		// A server that verifies clients drops one without a certificate
		// just after the handshake, or sends an alert.
		hint = "the server may want a client certificate: give --nats-tls-cert and --nats-tls-key"
	}
	return fmt.Errorf("%w (%s): %w: %s", ErrNATSTLS, where, err, hint)
}

// failKey holds the function Fail calls, put in the context by Main.
type failKey struct{}

// failure is the cause Fail gives the process's context.
type failure struct{ err error }

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// WithFail returns a context that Fail can end with an error, and a function
// that returns that error (nil if Fail was not called). Main runs every
// binary under one; tests may too.
func WithFail(ctx context.Context) (context.Context, func() error) {
	ctx, cancel := context.WithCancelCause(ctx)
	ctx = context.WithValue(ctx, failKey{}, cancel)
	return ctx, func() error {
		var f *failure
		if errors.As(context.Cause(ctx), &f) {
			return f.err
		}
		return nil
	}
}

// Fail ends the process ctx belongs to with err, as if its run function had
// returned it: for failures found in the background after start. It reports
// whether ctx was made by WithFail.
func Fail(ctx context.Context, err error) bool {
	cancel, ok := ctx.Value(failKey{}).(context.CancelCauseFunc)
	if ok {
		cancel(&failure{err})
	}
	return ok
}

func failOrLog(ctx context.Context, log *slog.Logger, err error) {
	log.Error("nats refused this process", "err", err)
	Fail(ctx, err)
}

// publishViolation finds the subject in a server's permissions error for a
// publish, which nats.go reports without a subscription.
var publishViolation = regexp.MustCompile(`(?i)publish to "([^"]+)"`)

// logRefusal logs a NATS authorization or permissions error at most once an
// interval per kind, with the subject and the server's reason, and reports
// whether err was one. Anything on the bus may provoke these, so they are
// rate-limited.
func logRefusal(rl *shared.RateLog, sub *nats.Subscription, err error) bool {
	switch {
	case errors.Is(err, nats.ErrPermissionViolation):
		subject := ""
		if sub != nil {
			subject = sub.Subject
		} else if m := publishViolation.FindStringSubmatch(err.Error()); m != nil {
			subject = m[1]
		}
		rl.Warn("nats permissions", "nats refused a subject", "subject", subject, "reason", err.Error())
		return true
	case authError(err):
		rl.Error("nats login", "nats refused the login", "reason", err.Error())
		return true
	}
	return false
}
