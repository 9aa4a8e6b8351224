package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/internal/cli"
)

var (
	errOpenConfig = errors.New("alo: the nats config lets clients in without credentials; --nats-listen requires them")
	errTokenOnly  = errors.New("alo: without --nats-config the embedded NATS takes a token only; --nats-creds, --nats-nkey and --nats-user need --nats-config")
)

// devNATS is how alo runs its NATS server and how its own parts log in.
type devNATS struct {
	opts   *server.Options
	creds  cli.NATSFlags // the credential flags, for alo's own connections
	client []nats.Option // more options for those: a token alo made up

	// friends is where the gateway's friend lists come from (--friends);
	// nil: the clients'.
	friends *cli.FriendsFlags

	// For the line that tells other processes how to attach: the token
	// (empty when the config file holds the credentials) and the file it
	// is in, if any.
	token, tokenFile string
}

// natsSetup turns --nats-listen, --nats-config and the credential flags
// into the embedded server's options. Without a listen address or a config
// file the server takes in-process connections only and needs no
// credentials: nothing outside the process can reach it.
func natsSetup(listen, configFile string, creds cli.NATSFlags) (*devNATS, error) {
	d := &devNATS{creds: creds}
	switch {
	case listen == "" && configFile == "":
		d.opts = &server.Options{DontListen: true}
		d.creds = cli.NATSFlags{} // nothing to log in to
	case configFile != "":
		opts, err := server.ProcessConfigFile(configFile)
		if err != nil {
			return nil, fmt.Errorf("--nats-config: %w", err)
		}
		if !requiresAuth(opts) {
			return nil, fmt.Errorf("--nats-config %s: %w", configFile, errOpenConfig)
		}
		d.opts = opts
	default:
		if creds.Creds != "" || creds.NKey != "" || creds.User != "" {
			return nil, errTokenOnly
		}
		token, err := devToken(creds.TokenFile)
		if err != nil {
			return nil, err
		}
		d.opts = &server.Options{Authorization: token}
		d.token, d.tokenFile = token, creds.TokenFile
		if creds.TokenFile == "" && os.Getenv(cli.EnvNATSToken) == "" {
			d.client = []nats.Option{nats.Token(token)}
		}
	}
	if listen != "" {
		host, port, err := listenAddr(listen)
		if err != nil {
			return nil, err
		}
		d.opts.Host, d.opts.Port = host, port
	} else if d.opts.Host == "" {
		// nats-server's own default is every interface; a dev server
		// reaches further only when told to.
		d.opts.Host = "127.0.0.1"
	}
	if d.opts.ServerName == "" {
		d.opts.ServerName = "alo-dev"
	}
	d.opts.NoSigs, d.opts.NoLog = true, true
	return d, nil
}

// devToken returns the token the embedded NATS requires: the one in file if
// it exists, else ALO_NATS_TOKEN, else a new random one, written to file
// when one is named so that other processes can read it there.
func devToken(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err == nil {
			token := strings.TrimRight(string(b), "\r\n")
			if token == "" {
				return "", fmt.Errorf("--nats-token-file %s is empty", file)
			}
			return token, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("--nats-token-file: %w", err)
		}
	} else if token := os.Getenv(cli.EnvNATSToken); token != "" {
		return token, nil
	}
	token := rand.Text() // 128 bits, base32: no character a shell or URL minds
	if file != "" {
		// O_EXCL: another process creating it meanwhile is an error, not
		// a token silently replaced.
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", fmt.Errorf("--nats-token-file: %w", err)
		}
		_, err = fmt.Fprintln(f, token)
		if err := errors.Join(err, f.Close()); err != nil {
			return "", fmt.Errorf("--nats-token-file: %w", err)
		}
	}
	return token, nil
}

// announce prints how another process attaches to the embedded NATS, as a
// line to paste.
func (d *devNATS) announce(w io.Writer, url string) {
	switch {
	case d.tokenFile != "":
		fmt.Fprintf(w, "\nThe embedded NATS requires the token in %s. Attach other processes with:\n\n  gateway --nats %s --nats-token-file %s\n\n", d.tokenFile, url, d.tokenFile)
	case d.token != "":
		fmt.Fprintf(w, "\nThe embedded NATS requires a token. Attach other processes with:\n\n  %s=%s gateway --nats %s\n\n", cli.EnvNATSToken, d.token, url)
	default:
		fmt.Fprintf(w, "\nThe embedded NATS requires the credentials of --nats-config. Attach other processes with:\n\n  gateway --nats %s --nats-user … --nats-password-file …  (or --nats-creds, --nats-nkey, --nats-token-file)\n\n", url)
	}
}

// listenAddr splits --nats-listen. A bare port (":4222" or "4222") means
// loopback: reaching other machines takes an address that says so
// ("0.0.0.0:4222"). Port 0 picks a free one.
func listenAddr(addr string) (string, int, error) {
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("--nats-listen: %w", err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("--nats-listen: bad port %q", p)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// requiresAuth reports whether a server with opts refuses clients that bring
// no credentials.
func requiresAuth(o *server.Options) bool {
	if o.NoAuthUser != "" {
		return false
	}
	return o.Username != "" || o.Authorization != "" || len(o.Users) > 0 || len(o.Nkeys) > 0 ||
		len(o.TrustedOperators) > 0 || len(o.TrustedKeys) > 0 || o.AuthCallout != nil
}
