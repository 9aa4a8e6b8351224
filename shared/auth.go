package shared

// Error codes for token authentication (DESIGN §7), sent as
// {"error": code, "message": text}. Kept apart from the codes in protocol.go
// so that the auth work and the gateway work do not edit the same block.
const (
	// CodeUnauthorized: the hello's token is missing or refused (bad
	// signature, wrong issuer or audience, not yet valid, bad sub, ...); the
	// message says which. Fatal.
	CodeUnauthorized = "unauthorized"
	// CodeTokenExpired: the token's exp has passed, at the hello or later
	// in the session. Fatal; the client should get a fresh token.
	CodeTokenExpired = "token_expired"
)
