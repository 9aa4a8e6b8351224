package auth

import (
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/alo-presence/alo/shared"
)

// FuzzVerify feeds the token path arbitrary input: it must never panic,
// accept only what a configured key signed, and refuse with an *Error whose
// message does not repeat the input.
func FuzzVerify(f *testing.F) {
	v, err := NewVerifier(Config{
		SecretFile:     tempPath(f, "secret", secret),
		PublicKeyFiles: []string{tempPath(f, "ec.pem", pemPublic(f, &ecKey.PublicKey))},
	}, discard())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sign(f, jose.HS256, secret, "", claims()))
	f.Add(sign(f, jose.ES256, ecKey, "kid", claims(func(c map[string]any) { c["friends"] = []int{1, 2} })))
	f.Add(unsigned(f, claims()))
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := v.Verify(tok)
		if err == nil {
			if id.UserID <= 0 || id.Expires.IsZero() {
				t.Fatalf("accepted %+v", id)
			}
			return
		}
		var ae *Error
		if !errors.As(err, &ae) {
			t.Fatalf("err %T %v, want *Error", err, err)
		}
		if ae.Code != shared.CodeUnauthorized && ae.Code != shared.CodeTokenExpired {
			t.Fatalf("code %q", ae.Code)
		}
		if len(tok) >= 24 && strings.Contains(ae.Message, tok) {
			t.Fatalf("message %q echoes the token", ae.Message)
		}
	})
}
