package auth

import (
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// BenchmarkVerify: the cost of one hello's token check, per algorithm.
func BenchmarkVerify(b *testing.B) {
	v, err := NewVerifier(Config{
		SecretFile: tempPath(b, "secret", secret),
		PublicKeyFiles: []string{
			tempPath(b, "rsa.pem", pemPublic(b, &rsaKey.PublicKey)),
			tempPath(b, "ec.pem", pemPublic(b, &ecKey.PublicKey)),
			tempPath(b, "ed.pem", pemPublic(b, edPub)),
		},
	}, discard())
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		key  any
	}{
		{"HS256", jose.HS256, secret},
		{"RS256", jose.RS256, rsaKey},
		{"ES256", jose.ES256, ecKey},
		{"EdDSA", jose.EdDSA, edKey},
	} {
		tok := sign(b, bc.alg, bc.key, "", claims(func(c map[string]any) { c["friends"] = []int{2, 3, 4} }))
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("bad signature RS256", func(b *testing.B) {
		tok := sign(b, jose.RS256, rsaOther, "", claims())
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(tok); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}
