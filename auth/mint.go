package auth

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/alo-presence/alo/shared"
)

// MintOptions describes a token for Mint.
type MintOptions struct {
	// UserID becomes sub. Required, positive.
	UserID int64
	// Friends becomes the friends claim; nil leaves the claim out.
	Friends []int64
	// TTL is how long the token is valid from now. Default 1 h.
	TTL time.Duration
	// Issuer and Audience become iss and aud when set.
	Issuer, Audience string
}

// DefaultMintTTL is MintOptions.TTL's default.
const DefaultMintTTL = time.Hour

// Mint signs an HS256 token with secret: for development and tests, where
// ALO is its own issuer. Production tokens come from the deployment's
// identity provider.
func Mint(secret []byte, o MintOptions) (string, error) {
	if o.UserID <= 0 {
		return "", fmt.Errorf("auth: mint: user id must be positive, not %d", o.UserID)
	}
	if o.TTL == 0 {
		o.TTL = DefaultMintTTL
	}
	if o.TTL < 0 {
		return "", fmt.Errorf("auth: mint: ttl must be positive, not %v", o.TTL)
	}
	k, err := parseSecret(secret) // trimmed as the Verifier trims the file
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	for _, f := range o.Friends {
		if f <= 0 || f > shared.MaxUserID {
			return "", fmt.Errorf("auth: mint: friend id must be positive, not %d", f)
		}
	}
	now := time.Now()
	claims := map[string]any{
		"sub": strconv.FormatInt(o.UserID, 10),
		"iat": now.Unix(),
		"exp": now.Add(o.TTL).Unix(),
	}
	if o.Friends != nil {
		claims["friends"] = o.Friends
	}
	if o.Issuer != "" {
		claims["iss"] = o.Issuer
	}
	if o.Audience != "" {
		claims["aud"] = o.Audience
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: k.pub},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return sig.CompactSerialize()
}
