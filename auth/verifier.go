package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/alo-presence/alo/internal/filewatch"
)

// Identity is what a verified token says about its holder.
type Identity struct {
	// UserID is the token's sub.
	UserID int64
	// Friends is the friends claim, duplicates and UserID dropped; nil when
	// the claim is absent (HasFriends tells an absent claim from an empty
	// one).
	Friends    []int64
	HasFriends bool
	// Expires is the token's exp. A session authenticated by the token
	// should end then unless the client presents a fresh one.
	Expires time.Time
}

// Verifier checks tokens against the keys a Config names. It is safe for
// concurrent use; Run keeps its keys current.
type Verifier struct {
	cfg   Config
	keys  atomic.Pointer[keySet]
	watch *filewatch.Watcher
}

// NewVerifier loads the key files cfg names. It fails when any of them does
// not load or the Config is invalid (errors wrap ErrConfig or ErrKeys). The
// keys stay as loaded until Run is called to follow changes.
func NewVerifier(cfg Config, log *slog.Logger) (*Verifier, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg}
	var paths []string
	if cfg.SecretFile != "" {
		paths = append(paths, cfg.SecretFile)
	}
	paths = append(paths, cfg.PublicKeyFiles...)
	if cfg.JWKSFile != "" {
		paths = append(paths, cfg.JWKSFile)
	}
	w, err := filewatch.New("jwt keys", paths, cfg.ReloadInterval, log, v.load)
	if err != nil {
		return nil, err
	}
	v.watch = w
	return v, nil
}

// load parses the key files' contents, in NewVerifier's path order, and
// swaps the new key set in only when all of them load.
func (v *Verifier) load(contents [][]byte) error {
	var keys []key
	i := 0
	if v.cfg.SecretFile != "" {
		k, err := parseSecret(contents[i])
		if err != nil {
			return fmt.Errorf("%s: %w", v.cfg.SecretFile, err)
		}
		keys = append(keys, k)
		i++
	}
	for _, p := range v.cfg.PublicKeyFiles {
		ks, err := parsePEM(contents[i])
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		keys = append(keys, ks...)
		i++
	}
	if v.cfg.JWKSFile != "" {
		ks, err := parseJWKS(contents[i])
		if err != nil {
			return fmt.Errorf("%s: %w", v.cfg.JWKSFile, err)
		}
		keys = append(keys, ks...)
	}
	set, err := newKeySet(keys)
	if err != nil {
		return err
	}
	v.keys.Store(set)
	return nil
}

// Run re-reads the key files every Config.ReloadInterval until ctx is done,
// and returns nil then. A changed file that loads replaces the keys at once
// (tokens in flight are checked against the old set or the new one, never a
// mix); one that does not is logged and the previous keys stay.
func (v *Verifier) Run(ctx context.Context) error { return v.watch.Run(ctx) }

// ReloadError returns why the key files' current content could not be
// loaded (the previous keys are in use), or nil when it is in use. For
// readiness checks.
func (v *Verifier) ReloadError() error { return v.watch.Err() }

// Verify checks a token and returns who it identifies. A refused token's
// error is an *Error (see the package doc for what is checked).
func (v *Verifier) Verify(token string) (Identity, error) {
	return v.verify(token, time.Now())
}

func (v *Verifier) verify(token string, now time.Time) (Identity, error) {
	ks := v.keys.Load()
	switch {
	case token == "":
		return Identity{}, refuse(ErrMalformed, "token is empty", nil)
	case len(token) > v.cfg.MaxTokenBytes:
		return Identity{}, refuse(ErrMalformed, "token is longer than "+strconv.Itoa(v.cfg.MaxTokenBytes)+" bytes", nil)
	}
	// The expected algorithms are those of the loaded keys: go-jose refuses
	// any other alg, "none" included, before looking further.
	sig, err := jose.ParseSignedCompact(token, ks.algs)
	if err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) {
			return Identity{}, refuse(ErrAlgorithm, algMessage(string(algErr.Got), ks.algs), nil)
		}
		return Identity{}, refuse(ErrMalformed, "token is not a signed JWT (three base64url parts: header.payload.signature)", err)
	}
	h := sig.Signatures[0].Header
	alg := jose.SignatureAlgorithm(h.Algorithm)
	cands, rerr := candidates(ks, h.KeyID, alg)
	if rerr != nil {
		return Identity{}, rerr
	}
	var payload []byte
	for _, k := range cands {
		// Each key is tried only for the alg it was loaded for, and go-jose
		// picks the verifier from the key's type: an HS256 token never meets
		// an RSA key as an HMAC secret.
		if payload, err = sig.Verify(k.pub); err == nil {
			break
		}
	}
	if err != nil {
		return Identity{}, refuse(ErrSignature, "token signature does not verify", nil)
	}
	return v.claims(payload, now)
}

// candidates returns the keys that may have signed a token with this kid
// and alg. A kid that no key has falls back to the keys without one (the
// secret, PEM keys), since an issuer may set a kid those files cannot carry.
func candidates(ks *keySet, kid string, alg jose.SignatureAlgorithm) ([]key, *Error) {
	var byID, out []key
	if kid != "" {
		for _, k := range ks.keys {
			if k.id == kid {
				byID = append(byID, k)
			}
		}
	}
	pool := byID
	if len(byID) == 0 {
		pool = ks.keys
	}
	for _, k := range pool {
		if k.alg == alg && (len(byID) > 0 || kid == "" || k.id == "") {
			out = append(out, k)
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case len(byID) > 0:
		return nil, refuse(ErrAlgorithm, "token algorithm "+string(alg)+" is not the one of its key (kid)", nil)
	case kid != "":
		return nil, refuse(ErrUnknownKey, "token key id (kid) is not one this server knows", nil)
	}
	return nil, refuse(ErrAlgorithm, algMessage(string(alg), ks.algs), nil)
}

// registered lists the JWS algorithm names (RFC 7518), the only header
// values an error message repeats: anything else in alg could be any text.
var registered = []string{"none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
	"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

func algMessage(got string, accepted []jose.SignatureAlgorithm) string {
	names := make([]string, len(accepted))
	for i, a := range accepted {
		names[i] = string(a)
	}
	what := "token algorithm"
	if slices.Contains(registered, got) {
		what += " " + got
	}
	return what + " is not accepted here (accepted: " + strings.Join(names, ", ") + ")"
}

// tokenClaims is the payload. sub and friends stay raw so that their errors
// can say exactly what is wrong.
type tokenClaims struct {
	Issuer    string           `json:"iss"`
	Subject   json.RawMessage  `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	Friends   json.RawMessage  `json:"friends"`
}

// claims checks a verified payload.
func (v *Verifier) claims(payload []byte, now time.Time) (Identity, error) {
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Identity{}, refuse(ErrMalformed, "token claims are not a JSON object of the registered claim types", err)
	}
	if c.Expiry == nil {
		return Identity{}, refuse(ErrMalformed, "token has no exp claim", nil)
	}
	std := jwt.Claims{Issuer: c.Issuer, Audience: c.Audience, Expiry: c.Expiry, NotBefore: c.NotBefore, IssuedAt: c.IssuedAt}
	want := jwt.Expected{Issuer: v.cfg.Issuer, Time: now}
	if v.cfg.Audience != "" {
		want.AnyAudience = jwt.Audience{v.cfg.Audience}
	}
	switch err := std.ValidateWithLeeway(want, v.cfg.Leeway); {
	case err == nil:
	case errors.Is(err, jwt.ErrExpired):
		return Identity{}, refuse(ErrExpired, "token expired at "+stamp(c.Expiry), nil)
	case errors.Is(err, jwt.ErrNotValidYet):
		return Identity{}, refuse(ErrNotYetValid, "token is not valid before "+stamp(c.NotBefore), nil)
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return Identity{}, refuse(ErrNotYetValid, "token is issued in the future (iat "+stamp(c.IssuedAt)+"); check the issuer's clock", nil)
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return Identity{}, refuse(ErrIssuer, "token issuer (iss) is not the one this server accepts", nil)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return Identity{}, refuse(ErrAudience, "token audience (aud) does not include this server", nil)
	default:
		return Identity{}, refuse(ErrMalformed, "token claims do not validate", err)
	}
	id, ok := parseSub(c.Subject)
	if !ok {
		return Identity{}, refuse(ErrSubject, `token sub must be a user id: a positive 64-bit integer as a decimal string, like "42"`, nil)
	}
	ident := Identity{UserID: id, Expires: c.Expiry.Time().UTC()}
	if len(c.Friends) > 0 && string(c.Friends) != "null" {
		friends, msg := parseFriends(c.Friends, id, v.cfg.MaxFriends)
		if msg != "" {
			return Identity{}, refuse(ErrFriends, msg, nil)
		}
		ident.Friends, ident.HasFriends = friends, true
	}
	return ident, nil
}

func stamp(d *jwt.NumericDate) string { return d.Time().UTC().Format(time.RFC3339) }

// parseSub accepts only the canonical decimal form of a positive int64, so
// that one user has one spelling ("042" and "+42" are refused).
func parseSub(raw json.RawMessage) (int64, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != s {
		return 0, false
	}
	return id, true
}

// parseFriends reads the friends claim: an array of JSON integers, each a
// positive int64. It returns a client-facing message when the claim is bad.
func parseFriends(raw json.RawMessage, self int64, max int) ([]int64, string) {
	const bad = "token friends claim must be an array of user ids (positive 64-bit integers)"
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, bad
	}
	if len(items) > max {
		return nil, "token friends claim has more than " + strconv.Itoa(max) + " entries"
	}
	out := make([]int64, 0, len(items))
	seen := make(map[int64]struct{}, len(items))
	for _, it := range items {
		// Digits only: no sign, fraction or exponent, and never a string.
		if len(it) == 0 || strings.Trim(string(it), "0123456789") != "" {
			return nil, bad
		}
		id, err := strconv.ParseInt(string(it), 10, 64)
		if err != nil || id <= 0 {
			return nil, bad
		}
		if _, dup := seen[id]; dup || id == self {
			continue
		}
		seen[id] = struct{}{}
		out = append(out, id)
	}
	return out, ""
}
