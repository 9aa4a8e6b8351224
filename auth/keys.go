package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// Key-loading limits: a JWKS with more keys than this is refused, so that a
// token without kid (checked against every key of its alg) costs a bounded
// number of signature checks.
const (
	maxKeys       = 100
	minRSABits    = 2048
	minSecretSize = 32 // bytes, RFC 7518 §3.2 for HS256
)

// ErrKeys is wrapped by every error about a key file's content.
var ErrKeys = errors.New("auth: bad key file")

// key is one verification key, usable for exactly one algorithm.
type key struct {
	id  string // the JWKS kid; "" for the secret and PEM keys
	alg jose.SignatureAlgorithm
	pub any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// keySet is what a Verifier checks tokens with; replaced whole on reload.
type keySet struct {
	keys []key
	algs []jose.SignatureAlgorithm // the distinct algs of keys: ParseSigned's guard
}

func newKeySet(keys []key) (*keySet, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no usable keys", ErrKeys)
	}
	if len(keys) > maxKeys {
		return nil, fmt.Errorf("%w: %d keys, more than %d", ErrKeys, len(keys), maxKeys)
	}
	ks := &keySet{keys: keys}
	for _, k := range keys {
		if !slices.Contains(ks.algs, k.alg) {
			ks.algs = append(ks.algs, k.alg)
		}
	}
	return ks, nil
}

// parseSecret reads an HS256 secret file's content.
func parseSecret(b []byte) (key, error) {
	b = bytes.TrimRight(b, " \t\r\n")
	if len(b) < minSecretSize {
		return key{}, fmt.Errorf("%w: the secret has %d bytes; HS256 needs at least %d", ErrKeys, len(b), minSecretSize)
	}
	return key{alg: jose.HS256, pub: bytes.Clone(b)}, nil
}

// parsePEM reads the public keys of one PEM file.
func parsePEM(b []byte) ([]key, error) {
	var keys []key
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = c.PublicKey
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%w: a %s block; give the public key only", ErrKeys, block.Type)
		default:
			continue // e.g. "EC PARAMETERS" before a key
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s block: %w", ErrKeys, block.Type, err)
		}
		alg, err := defaultAlg(pub)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key{alg: alg, pub: pub})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no PEM public key", ErrKeys)
	}
	return keys, nil
}

// parseJWKS reads a JWKS file. Keys are parsed one by one so that the error
// names the bad one.
func parseJWKS(b []byte) ([]key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("%w: not a JWKS: %w", ErrKeys, err)
	}
	if set.Keys == nil {
		return nil, fmt.Errorf("%w: not a JWKS: no \"keys\" array", ErrKeys)
	}
	var keys []key
	for i, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("%w: JWKS key %d: %w", ErrKeys, i, err)
		}
		if jwk.Use == "enc" {
			continue
		}
		pub := jwk.Key
		if k, ok := pub.([]byte); !ok && !jwk.IsPublic() {
			return nil, fmt.Errorf("%w: JWKS key %d (kid %q) is a private key; publish the public key only", ErrKeys, i, jwk.KeyID)
		} else if ok && len(k) < minSecretSize {
			return nil, fmt.Errorf("%w: JWKS key %d (kid %q): a secret of %d bytes; at least %d", ErrKeys, i, jwk.KeyID, len(k), minSecretSize)
		}
		alg, err := defaultAlg(pub)
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d (kid %q): %w", i, jwk.KeyID, err)
		}
		if jwk.Algorithm != "" {
			alg = jose.SignatureAlgorithm(jwk.Algorithm)
			if !slices.Contains(algsFor(pub), alg) {
				return nil, fmt.Errorf("%w: JWKS key %d (kid %q): alg %q does not suit a %s key", ErrKeys, i, jwk.KeyID, jwk.Algorithm, keyType(pub))
			}
		}
		keys = append(keys, key{id: jwk.KeyID, alg: alg, pub: pub})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: the JWKS has no signing key", ErrKeys)
	}
	return keys, nil
}

// algsFor lists the algorithms a key may be declared for (a JWK's alg).
func algsFor(pub any) []jose.SignatureAlgorithm {
	switch pub.(type) {
	case []byte:
		return []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512}
	case *rsa.PublicKey:
		return []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512}
	}
	alg, err := defaultAlg(pub)
	if err != nil {
		return nil
	}
	return []jose.SignatureAlgorithm{alg}
}

// defaultAlg is the algorithm a key verifies when nothing says otherwise, and
// refuses keys too weak or of a kind ALO does not verify.
func defaultAlg(pub any) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case []byte:
		return jose.HS256, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("%w: an RSA key of %d bits; at least %d", ErrKeys, k.N.BitLen(), minRSABits)
		}
		return jose.RS256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
		return "", fmt.Errorf("%w: an EC key on an unsupported curve", ErrKeys)
	case ed25519.PublicKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("%w: unsupported key type %s", ErrKeys, keyType(pub))
}

func keyType(pub any) string {
	switch pub.(type) {
	case []byte:
		return "symmetric"
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "EC"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}
