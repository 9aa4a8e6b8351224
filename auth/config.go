package auth

import (
	"errors"
	"fmt"
	"time"
)

// Config says where a Verifier's keys come from and what it checks besides
// the signature. At least one of SecretFile, PublicKeyFiles and JWKSFile must
// be set; tokens are checked against every key from all of them.
type Config struct {
	// SecretFile names a file holding the HS256 secret: its bytes, less
	// trailing whitespace (so `echo secret > file` works), at least 32 bytes
	// (RFC 7518 §3.2). Default "": no HMAC key.
	SecretFile string
	// PublicKeyFiles name PEM files of public keys: PKIX "PUBLIC KEY",
	// PKCS #1 "RSA PUBLIC KEY" or a "CERTIFICATE" (its key is used), one or
	// more blocks per file. RSA keys (2048 bits or more) verify RS256, EC P-256
	// keys ES256 (P-384 ES384, P-521 ES512), Ed25519 keys EdDSA. A private
	// key is refused: a verifier has no use for one. Default none.
	PublicKeyFiles []string
	// JWKSFile names a JSON Web Key Set file (RFC 7517), as an identity
	// provider publishes at its jwks_uri. Each key's alg, when given, must
	// suit its type; without alg the type decides as for PublicKeyFiles
	// ("oct" keys: HS256). Keys with "use": "enc" are skipped; at most 100
	// keys in all. A token's kid picks its key; a token without kid is
	// checked against every key of its alg, so issuers should set kid.
	// Default "".
	JWKSFile string

	// Issuer, when set, must equal the token's iss. Default "": not checked.
	Issuer string
	// Audience, when set, must be one of the token's aud. Default "": not
	// checked.
	Audience string
	// Leeway is the clock skew allowed when checking exp, nbf and iat.
	// Default 30 s. Negative is refused.
	Leeway time.Duration

	// ReloadInterval is how often Run re-reads the key files. Default 5 s.
	ReloadInterval time.Duration
	// MaxFriends bounds the friends claim. Default 5000, as the gateway's
	// friend-list limit.
	MaxFriends int
	// MaxTokenBytes bounds a token, checked before anything is decoded.
	// Default 64 KiB: room for MaxFriends friends.
	MaxTokenBytes int
}

// Defaults for Config's zero fields.
const (
	DefaultLeeway         = 30 * time.Second
	DefaultReloadInterval = 5 * time.Second
	DefaultMaxFriends     = 5000
	DefaultMaxTokenBytes  = 64 << 10
)

// ErrConfig is wrapped by every error about the Config itself.
var ErrConfig = errors.New("auth: bad config")

func (c Config) withDefaults() Config {
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = DefaultReloadInterval
	}
	if c.MaxFriends == 0 {
		c.MaxFriends = DefaultMaxFriends
	}
	if c.MaxTokenBytes == 0 {
		c.MaxTokenBytes = DefaultMaxTokenBytes
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.SecretFile == "" && len(c.PublicKeyFiles) == 0 && c.JWKSFile == "":
		return fmt.Errorf("%w: no keys: set a secret file, a public key file or a JWKS file", ErrConfig)
	case c.Leeway < 0:
		return fmt.Errorf("%w: leeway must not be negative", ErrConfig)
	case c.ReloadInterval < 0:
		return fmt.Errorf("%w: reload interval must not be negative", ErrConfig)
	case c.MaxFriends < 0:
		return fmt.Errorf("%w: max friends must not be negative", ErrConfig)
	case c.MaxTokenBytes < 0:
		return fmt.Errorf("%w: max token bytes must not be negative", ErrConfig)
	}
	for _, p := range c.PublicKeyFiles {
		if p == "" {
			return fmt.Errorf("%w: empty public key file name", ErrConfig)
		}
	}
	return nil
}
