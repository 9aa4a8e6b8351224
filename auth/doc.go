// Package auth verifies the JSON Web Tokens that clients present in their
// hello (DESIGN §7) and mints development tokens.
//
// A Verifier is built from a Config naming the key files: an HS256 secret,
// PEM public keys (RS256, ES256, EdDSA), and a JWKS file. Every key file is
// re-read when its content changes while Run is running (key rotation): the
// new key set replaces the old one atomically, and a file that does not load
// keeps the old keys and logs an error, so a half-written rotation never
// locks everyone out.
//
// Verify accepts a token only when
//   - its header's alg is one the configured keys use, checked by go-jose's
//     ParseSigned with the list of expected algorithms, and the key that
//     verifies it was loaded for exactly that alg: "none" is never accepted,
//     and an HMAC token is never checked against a public key (algorithm
//     confusion);
//   - a key verifies its signature (the header's kid picks the key when
//     given);
//   - it has exp, not past, and nbf and iat, if present, not in the future,
//     each with Config.Leeway for clock skew;
//   - iss and aud match Config.Issuer and Config.Audience when those are set;
//   - sub is a user id: a positive 64-bit integer written as a decimal string
//     ("42");
//   - friends, if present, is an array of user ids (numbers) no longer than
//     Config.MaxFriends.
//
// A refused token gets an *Error whose Code is shared.CodeTokenExpired for an
// expired token and shared.CodeUnauthorized for everything else, and whose
// Message says what is wrong for the client without echoing the token.
//
// # Token format
//
// The claims are RFC 7519's plus one private claim, friends:
//
//	{"sub": "42", "exp": 1767225600, "iss": "...", "aud": "...", "friends": [7, 9]}
//
// These names are the contract between a deployment's token issuer and ALO;
// they are spelled here, not in shared/, because nothing else in ALO reads a
// token.
//
// # Development tokens
//
// Mint signs an HS256 token; DevSecretFile finds (and on first use creates)
// the secret file that the dev binary's `alo token` and `alo --auth jwt` both
// use, so that the two agree without the user passing anything.
package auth
