package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/alo-presence/alo/shared"
)

// fullVerifier has every kind of key: the HS256 secret, RSA, EC and Ed25519
// PEM keys, and a JWKS with an RSA key (kid k1) and an EC key (kid k2).
func fullVerifier(t *testing.T) (*Verifier, *ecdsa.PrivateKey) {
	t.Helper()
	ecJWKS := mustEC()
	cfg := Config{
		SecretFile: tempPath(t, "secret", append(secret, '\n')),
		PublicKeyFiles: []string{
			tempPath(t, "rsa.pem", pemPublic(t, &rsaKey.PublicKey)),
			tempPath(t, "ec.pem", pemPublic(t, &ecKey.PublicKey)),
			tempPath(t, "ed.pem", pemPublic(t, edPub)),
		},
		JWKSFile: tempPath(t, "jwks.json", jwks(t,
			jose.JSONWebKey{Key: &rsaOther.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"},
			jose.JSONWebKey{Key: &ecJWKS.PublicKey, KeyID: "k2"},
		)),
		Issuer:   "https://issuer.test",
		Audience: "alo",
	}
	v, err := NewVerifier(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	return v, ecJWKS
}

func TestVerify(t *testing.T) {
	v, ecJWKS := fullVerifier(t)
	wrongEC := mustEC()
	set := func(k string, val any) func(map[string]any) { return func(c map[string]any) { c[k] = val } }
	del := func(k string) func(map[string]any) { return func(c map[string]any) { delete(c, k) } }
	ago := func(d time.Duration) int64 { return time.Now().Add(-d).Unix() }
	many := make([]int64, DefaultMaxFriends+1)
	for i := range many {
		many[i] = int64(i + 1)
	}
	rsaPEM := pemPublic(t, &rsaKey.PublicKey)

	tests := []struct {
		name    string
		token   string
		want    error // nil: valid
		user    int64
		friends []int64 // checked when the token is valid; nil: no claim
	}{
		{"HS256", sign(t, jose.HS256, secret, "", claims()), nil, 42, nil},
		{"RS256 PEM", sign(t, jose.RS256, rsaKey, "", claims()), nil, 42, nil},
		{"ES256 PEM", sign(t, jose.ES256, ecKey, "", claims()), nil, 42, nil},
		{"EdDSA PEM", sign(t, jose.EdDSA, edKey, "", claims()), nil, 42, nil},
		{"RS256 JWKS kid", sign(t, jose.RS256, rsaOther, "k1", claims()), nil, 42, nil},
		{"ES256 JWKS kid", sign(t, jose.ES256, ecJWKS, "k2", claims()), nil, 42, nil},
		{"JWKS key without kid in token", sign(t, jose.ES256, ecJWKS, "", claims()), nil, 42, nil},
		{"PEM key with a kid the JWKS lacks", sign(t, jose.RS256, rsaKey, "from-idp", claims()), nil, 42, nil},
		{"big sub", sign(t, jose.HS256, secret, "", claims(set("sub", "9223372036854775807"))), nil, shared.MaxUserID, nil},
		{"friends", sign(t, jose.HS256, secret, "", claims(set("friends", []int64{7, 9, 7, 42, 9223372036854775807}))), nil, 42, []int64{7, 9, 9223372036854775807}},
		{"friends empty", sign(t, jose.HS256, secret, "", claims(set("friends", []int64{}))), nil, 42, []int64{}},
		{"friends null", sign(t, jose.HS256, secret, "", claims(set("friends", nil))), nil, 42, nil},
		{"aud array", sign(t, jose.HS256, secret, "", claims(set("aud", []string{"other", "alo"}))), nil, 42, nil},
		{"expired within leeway", sign(t, jose.HS256, secret, "", claims(set("exp", ago(10*time.Second)))), nil, 42, nil},
		{"nbf within leeway", sign(t, jose.HS256, secret, "", claims(set("nbf", ago(-10*time.Second)))), nil, 42, nil},

		{"expired", sign(t, jose.RS256, rsaKey, "", claims(set("exp", ago(2*time.Minute)))), ErrExpired, 0, nil},
		{"not yet valid", sign(t, jose.ES256, ecKey, "", claims(set("nbf", ago(-2*time.Minute)))), ErrNotYetValid, 0, nil},
		{"issued in the future", sign(t, jose.HS256, secret, "", claims(set("iat", ago(-2*time.Minute)))), ErrNotYetValid, 0, nil},
		{"no exp", sign(t, jose.HS256, secret, "", claims(del("exp"))), ErrMalformed, 0, nil},
		{"exp not a number", sign(t, jose.HS256, secret, "", claims(set("exp", "tomorrow"))), ErrMalformed, 0, nil},

		{"wrong RSA key", sign(t, jose.RS256, mustRSA(), "", claims()), ErrSignature, 0, nil},
		{"wrong EC key", sign(t, jose.ES256, wrongEC, "", claims()), ErrSignature, 0, nil},
		{"wrong secret", sign(t, jose.HS256, []byte("another-secret-of-at-least-32-bytes!!"), "", claims()), ErrSignature, 0, nil},
		{"JWKS kid with another key", sign(t, jose.RS256, rsaKey, "k1", claims()), ErrSignature, 0, nil},
		{"tampered payload", tamper(t, sign(t, jose.HS256, secret, "", claims())), ErrSignature, 0, nil},
		{"alg none", unsigned(t, claims()), ErrAlgorithm, 0, nil},
		// Algorithm confusion: HMAC keyed with the RSA public key's PEM, the
		// bytes an attacker can read. Here an HS256 secret is configured, so
		// HS256 is an accepted alg: only the secret may check it.
		{"HS256 keyed with the RSA public PEM", sign(t, jose.HS256, rsaPEM, "", claims()), ErrSignature, 0, nil},
		{"alg not configured", sign(t, jose.RS384, rsaKey, "", claims()), ErrAlgorithm, 0, nil},
		{"kid of an RSA key, alg ES256", sign(t, jose.ES256, ecKey, "k1", claims()), ErrAlgorithm, 0, nil},

		{"wrong issuer", sign(t, jose.HS256, secret, "", claims(set("iss", "https://evil.test"))), ErrIssuer, 0, nil},
		{"no issuer", sign(t, jose.HS256, secret, "", claims(del("iss"))), ErrIssuer, 0, nil},
		{"wrong audience", sign(t, jose.HS256, secret, "", claims(set("aud", "other"))), ErrAudience, 0, nil},
		{"no audience", sign(t, jose.HS256, secret, "", claims(del("aud"))), ErrAudience, 0, nil},

		{"sub not a number", sign(t, jose.HS256, secret, "", claims(set("sub", "alice"))), ErrSubject, 0, nil},
		{"sub zero", sign(t, jose.HS256, secret, "", claims(set("sub", "0"))), ErrSubject, 0, nil},
		{"sub negative", sign(t, jose.HS256, secret, "", claims(set("sub", "-1"))), ErrSubject, 0, nil},
		{"sub too large", sign(t, jose.HS256, secret, "", claims(set("sub", "9223372036854775808"))), ErrSubject, 0, nil},
		{"sub leading zero", sign(t, jose.HS256, secret, "", claims(set("sub", "042"))), ErrSubject, 0, nil},
		{"sub plus", sign(t, jose.HS256, secret, "", claims(set("sub", "+42"))), ErrSubject, 0, nil},
		{"sub JSON number", sign(t, jose.HS256, secret, "", claims(set("sub", 42))), ErrSubject, 0, nil},
		{"sub missing", sign(t, jose.HS256, secret, "", claims(del("sub"))), ErrSubject, 0, nil},

		{"friends not an array", sign(t, jose.HS256, secret, "", claims(set("friends", "2,3"))), ErrFriends, 0, nil},
		{"friends of strings", sign(t, jose.HS256, secret, "", claims(set("friends", []string{"2"}))), ErrFriends, 0, nil},
		{"friends fraction", sign(t, jose.HS256, secret, "", claims(set("friends", []float64{2.5}))), ErrFriends, 0, nil},
		{"friends zero", sign(t, jose.HS256, secret, "", claims(set("friends", []int64{0}))), ErrFriends, 0, nil},
		{"friends negative", sign(t, jose.HS256, secret, "", claims(set("friends", []int64{-3}))), ErrFriends, 0, nil},
		{"friends too large", sign(t, jose.HS256, secret, "", claims(set("friends", []uint64{1 << 63}))), ErrFriends, 0, nil},
		{"friends too many", sign(t, jose.HS256, secret, "", claims(set("friends", many))), ErrFriends, 0, nil},

		{"empty", "", ErrMalformed, 0, nil},
		{"not a JWT", "hello", ErrMalformed, 0, nil},
		{"garbage parts", "a.b.c", ErrMalformed, 0, nil},
		{"too long", strings.Repeat("a", DefaultMaxTokenBytes+1), ErrMalformed, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if id.UserID != tt.user {
					t.Errorf("user %d, want %d", id.UserID, tt.user)
				}
				if id.HasFriends != (tt.friends != nil) || !slices.Equal(id.Friends, tt.friends) {
					t.Errorf("friends %v (%v), want %v", id.Friends, id.HasFriends, tt.friends)
				}
				if d := time.Until(id.Expires); d > time.Hour+time.Second || d < -time.Minute {
					t.Errorf("expires %v", id.Expires)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("err %T, want *Error", err)
			}
			wantCode := shared.CodeUnauthorized
			if tt.want == ErrExpired {
				wantCode = shared.CodeTokenExpired
			}
			if ae.Code != wantCode {
				t.Errorf("code %q, want %q", ae.Code, wantCode)
			}
			if ae.Message == "" {
				t.Error("empty message")
			}
			checkNoEcho(t, tt.token, ae.Message)
			checkNoEcho(t, tt.token, err.Error())
		})
	}
}

// checkNoEcho fails if msg repeats any sizeable piece of the token.
func checkNoEcho(t *testing.T, token, msg string) {
	t.Helper()
	for _, part := range strings.Split(token, ".") {
		for i := 0; i+12 <= len(part); i += 12 {
			if strings.Contains(msg, part[i:i+12]) {
				t.Fatalf("message %q echoes the token", msg)
			}
		}
	}
}

// tamper changes the payload of a signed token and keeps its signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	p := strings.Split(tok, ".")
	forged := sign(t, jose.HS256, []byte("some-other-secret-of-32-bytes-or-more"), "", claims(func(c map[string]any) { c["sub"] = "1" }))
	return p[0] + "." + strings.Split(forged, ".")[1] + "." + p[2]
}

// An HMAC token keyed with the RSA public key's PEM, against a server with
// only that RSA key: HS256 is not an expected algorithm, so go-jose refuses
// it before any key is tried.
func TestAlgorithmConfusionPublicKeyOnly(t *testing.T) {
	rsaPEM := pemPublic(t, &rsaKey.PublicKey)
	v, err := NewVerifier(Config{PublicKeyFiles: []string{tempPath(t, "rsa.pem", rsaPEM)}}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(sign(t, jose.RS256, rsaKey, "", claims())); err != nil {
		t.Fatalf("RS256 refused: %v", err)
	}
	for name, tok := range map[string]string{
		"HS256 keyed with the PEM":     sign(t, jose.HS256, rsaPEM, "", claims()),
		"HS256 keyed with the modulus": sign(t, jose.HS256, rsaKey.N.Bytes(), "", claims()),
		"none":                         unsigned(t, claims()),
	} {
		_, err := v.Verify(tok)
		if !errors.Is(err, ErrAlgorithm) {
			t.Errorf("%s: err %v, want ErrAlgorithm", name, err)
		}
	}
}

func TestUnknownKeyID(t *testing.T) {
	k := mustEC()
	v, err := NewVerifier(Config{JWKSFile: tempPath(t, "jwks.json", jwks(t, jose.JSONWebKey{Key: &k.PublicKey, KeyID: "a"}))}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(sign(t, jose.ES256, k, "a", claims(func(c map[string]any) { delete(c, "aud"); delete(c, "iss") }))); err != nil {
		t.Fatalf("refused: %v", err)
	}
	_, err = v.Verify(sign(t, jose.ES256, k, "b", claims()))
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err %v, want ErrUnknownKey", err)
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	weak, err := rsaKeyOfBits(1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tests := []struct {
		name string
		cfg  func(t *testing.T) Config
		want error
	}{
		{"no keys", func(t *testing.T) Config { return Config{} }, ErrConfig},
		{"negative leeway", func(t *testing.T) Config {
			return Config{SecretFile: tempPath(t, "s", secret), Leeway: -time.Second}
		}, ErrConfig},
		{"missing file", func(t *testing.T) Config { return Config{SecretFile: "/nonexistent/secret"} }, os.ErrNotExist},
		{"short secret", func(t *testing.T) Config { return Config{SecretFile: tempPath(t, "s", []byte("short\n"))} }, ErrKeys},
		{"PEM without key", func(t *testing.T) Config {
			return Config{PublicKeyFiles: []string{tempPath(t, "k.pem", []byte("not pem"))}}
		}, ErrKeys},
		{"private key PEM", func(t *testing.T) Config {
			return Config{PublicKeyFiles: []string{tempPath(t, "k.pem", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))}}
		}, ErrKeys},
		{"weak RSA", func(t *testing.T) Config {
			return Config{PublicKeyFiles: []string{tempPath(t, "k.pem", pemPublic(t, &weak.PublicKey))}}
		}, ErrKeys},
		{"JWKS not JSON", func(t *testing.T) Config { return Config{JWKSFile: tempPath(t, "j", []byte("{"))} }, ErrKeys},
		{"JWKS no keys", func(t *testing.T) Config { return Config{JWKSFile: tempPath(t, "j", []byte(`{"keys":[]}`))} }, ErrKeys},
		{"JWKS private key", func(t *testing.T) Config {
			return Config{JWKSFile: tempPath(t, "j", jwks(t, jose.JSONWebKey{Key: ecKey, KeyID: "p"}))}
		}, ErrKeys},
		{"JWKS RSA key declared HS256", func(t *testing.T) Config {
			return Config{JWKSFile: tempPath(t, "j", jwks(t, jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "x", Algorithm: "HS256"}))}
		}, ErrKeys},
		{"JWKS P-384 key declared ES256", func(t *testing.T) Config {
			return Config{JWKSFile: tempPath(t, "j", jwks(t, jose.JSONWebKey{Key: &p384.PublicKey, KeyID: "x", Algorithm: "ES256"}))}
		}, ErrKeys},
		{"JWKS only encryption keys", func(t *testing.T) Config {
			return Config{JWKSFile: tempPath(t, "j", jwks(t, jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: "e", Use: "enc"}))}
		}, ErrKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.cfg(t), discard())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

// TestJWKSRotation rotates the JWKS file under a running Verifier: the new
// key's tokens become valid, the removed key's invalid, and files that do
// not load (garbage, half-written, a private key) keep the keys in use.
func TestJWKSRotation(t *testing.T) {
	k1, k2 := mustEC(), mustEC()
	path := tempPath(t, "jwks.json", jwks(t, jose.JSONWebKey{Key: &k1.PublicKey, KeyID: "k1"}))
	v, err := NewVerifier(Config{JWKSFile: path, ReloadInterval: 10 * time.Millisecond}, discard())
	if err != nil {
		t.Fatal(err)
	}
	run(t, v)
	tok1 := sign(t, jose.ES256, k1, "k1", claims())
	tok2 := sign(t, jose.ES256, k2, "k2", claims())
	valid := func(tok string) bool { _, err := v.Verify(tok); return err == nil }
	if !valid(tok1) || valid(tok2) {
		t.Fatal("before rotation: want k1 valid, k2 not")
	}

	// Overlap: both keys published, as a rotation starts.
	writeFile(t, path, jwks(t, jose.JSONWebKey{Key: &k1.PublicKey, KeyID: "k1"}, jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "k2"}))
	waitFor(t, "k2 valid", func() bool { return valid(tok2) })
	if !valid(tok1) {
		t.Fatal("k1 refused while both are published")
	}
	// k1 retired.
	writeFile(t, path, jwks(t, jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "k2"}))
	waitFor(t, "k1 refused", func() bool { return !valid(tok1) })
	if _, err := v.Verify(tok1); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired key: err %v, want ErrUnknownKey", err)
	}

	bad := map[string][]byte{
		"garbage":      []byte("<html>502 Bad Gateway</html>"),
		"half-written": jwks(t, jose.JSONWebKey{Key: &k1.PublicKey, KeyID: "k1"})[:40],
		"private key":  jwks(t, jose.JSONWebKey{Key: k1, KeyID: "k1"}),
		"empty":        nil,
	}
	for name, b := range bad {
		writeFile(t, path, b)
		waitFor(t, "reload error for "+name, func() bool { return errors.Is(v.ReloadError(), ErrKeys) })
		if !valid(tok2) || valid(tok1) {
			t.Fatalf("%s: the keys in use changed", name)
		}
		// Back to good, so the next bad file is a change again.
		writeFile(t, path, jwks(t, jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "k2"}))
		waitFor(t, "reload error cleared", func() bool { return v.ReloadError() == nil })
	}

	// A file removed mid-rotation, then written in place (not atomically).
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload error for a missing file", func() bool { return errors.Is(v.ReloadError(), os.ErrNotExist) })
	if !valid(tok2) {
		t.Fatal("missing file: k2 refused")
	}
	if err := os.WriteFile(path, jwks(t, jose.JSONWebKey{Key: &k1.PublicKey, KeyID: "k1"}), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "k1 valid again", func() bool { return valid(tok1) })
	if valid(tok2) || v.ReloadError() != nil {
		t.Fatal("after the last rotation: want k2 refused and no reload error")
	}
}

// The secret and PEM files are followed too.
func TestSecretRotation(t *testing.T) {
	path := tempPath(t, "secret", secret)
	v, err := NewVerifier(Config{SecretFile: path, ReloadInterval: 10 * time.Millisecond}, discard())
	if err != nil {
		t.Fatal(err)
	}
	run(t, v)
	next := []byte("the-next-secret-which-is-at-least-32-bytes")
	old, fresh := sign(t, jose.HS256, secret, "", claims()), sign(t, jose.HS256, next, "", claims())
	writeFile(t, path, next)
	waitFor(t, "new secret", func() bool { _, err := v.Verify(fresh); return err == nil })
	if _, err := v.Verify(old); !errors.Is(err, ErrSignature) {
		t.Fatalf("old secret: err %v, want ErrSignature", err)
	}
}
