package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/alo-presence/alo/internal/filewatch"
)

// DevSecretName is the dev secret's file name, in the alo directory under
// os.UserConfigDir (~/.config/alo/alo-dev-secret on Linux).
const DevSecretName = "alo-dev-secret"

// DefaultDevSecretPath returns where the dev secret lives when no file is
// named.
func DefaultDevSecretPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("auth: no user config directory for the dev secret (name one with --jwt-secret-file): %w", err)
	}
	return filepath.Join(dir, "alo", DevSecretName), nil
}

// DevSecretFile returns the HS256 secret file that the dev binary uses, for
// both `alo token` (to mint) and `alo --auth jwt` (Config.SecretFile), so
// that they agree without the user passing anything. When path is set it is
// returned as it is and must exist: a mistyped name must not quietly become
// a new secret. When path is empty it is DefaultDevSecretPath, created on
// first use with 32 random bytes (hex, so it can be pasted elsewhere),
// readable by the user only.
func DevSecretFile(path string) (string, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("auth: secret file: %w", err)
		}
		return path, nil
	}
	path, err := DefaultDevSecretPath()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("auth: dev secret: %w", err)
	}
	return path, createSecret(path)
}

// createSecret writes a fresh secret to path unless a file is already
// there. It writes a temporary file and links it into place, so that two
// processes starting at once agree on one secret and neither reads a
// half-written file.
func createSecret(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("auth: dev secret: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw) // never fails (crypto/rand, Go 1.24+)
	tmp, err := os.CreateTemp(dir, DevSecretName+".tmp*")
	if err != nil {
		return fmt.Errorf("auth: dev secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(raw) + "\n")
	if e := tmp.Close(); err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("auth: dev secret: %w", err)
	}
	// CreateTemp makes the file 0600 already.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("auth: dev secret: %w", err)
	}
	return nil
}

// ReadSecretFile reads an HS256 secret file as a Verifier does: its content
// less trailing whitespace, at least 32 bytes.
func ReadSecretFile(path string) ([]byte, error) {
	b, err := filewatch.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: secret file: %w", err)
	}
	k, err := parseSecret(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k.pub.([]byte), nil
}
