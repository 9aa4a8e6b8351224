package auth

import (
	"errors"

	"github.com/alo-presence/alo/shared"
)

// Why a token was refused: every *Error from Verify wraps exactly one of
// these, so callers can tell cases apart with errors.Is.
var (
	ErrMalformed   = errors.New("auth: malformed token")
	ErrAlgorithm   = errors.New("auth: algorithm not accepted")
	ErrUnknownKey  = errors.New("auth: unknown key id")
	ErrSignature   = errors.New("auth: bad signature")
	ErrExpired     = errors.New("auth: token expired")
	ErrNotYetValid = errors.New("auth: token not yet valid")
	ErrIssuer      = errors.New("auth: wrong issuer")
	ErrAudience    = errors.New("auth: wrong audience")
	ErrSubject     = errors.New("auth: bad sub")
	ErrFriends     = errors.New("auth: bad friends claim")
)

// Error is a refused token. Code is what the client is sent as "error" and
// Message as "message": it says what is wrong in words a person can act on
// and never contains the token or any part of it.
type Error struct {
	// Code is shared.CodeTokenExpired when the token's exp has passed,
	// shared.CodeUnauthorized otherwise.
	Code string
	// Message is for the client.
	Message string

	reason error // one of the Err sentinels
	cause  error // the library's error, for the server's log; may be nil
}

// Error returns the message with the library's cause, for logs.
func (e *Error) Error() string {
	s := "auth: " + e.Message
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap returns the sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.reason}
	}
	return []error{e.reason, e.cause}
}

func refuse(reason error, msg string, cause error) *Error {
	code := shared.CodeUnauthorized
	if reason == ErrExpired {
		code = shared.CodeTokenExpired
	}
	return &Error{Code: code, Message: msg, reason: reason, cause: cause}
}
