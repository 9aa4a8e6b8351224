package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alo-presence/alo/auth"
)

// TestTokenVerifies: what `alo token` prints is accepted by a Verifier
// reading the same dev secret, found without passing anything, as
// `alo --auth jwt` will.
func TestTokenVerifies(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("ALO_JWT_SECRET_FILE", "")
	os.Unsetenv("ALO_JWT_SECRET_FILE")
	tok := runToken(t, 0, "--user", "1", "--friends", "2,3", "--ttl", "10m")

	path, err := auth.DevSecretFile("")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev secret %s: %v, mode %v; want 0600", path, err, fi.Mode())
	}
	v, err := auth.NewVerifier(auth.Config{SecretFile: path}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.UserID != 1 || !slices.Equal(id.Friends, []int64{2, 3}) {
		t.Fatalf("identity %+v", id)
	}
	if d := time.Until(id.Expires); d < 9*time.Minute || d > 10*time.Minute+time.Second {
		t.Fatalf("expires in %v, want 10m", d)
	}

	// A second run uses the same secret, and no --friends means no claim.
	id, err = v.Verify(runToken(t, 0, "--user", "7"))
	if err != nil || id.UserID != 7 || id.HasFriends {
		t.Fatalf("second token: %+v, %v", id, err)
	}
	// --friends '' is an empty claim: the user has no friends.
	if id, err = v.Verify(runToken(t, 0, "--user", "7", "--friends", "")); err != nil || !id.HasFriends || len(id.Friends) != 0 {
		t.Fatalf("empty friends: %+v, %v", id, err)
	}
}

func TestTokenSecretFile(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("a-secret-for-this-test-of-32-bytes-and-more\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{SecretFile: path, Audience: "alo"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(runToken(t, 0, "--user", "5", "--jwt-secret-file", path, "--jwt-audience", "alo")); err != nil {
		t.Fatalf("--jwt-secret-file: %v", err)
	}
	t.Setenv("ALO_JWT_SECRET_FILE", path)
	if _, err := v.Verify(runToken(t, 0, "--user", "5", "--jwt-audience", "alo")); err != nil {
		t.Fatalf("ALO_JWT_SECRET_FILE: %v", err)
	}
	// The dev secret is another key.
	os.Unsetenv("ALO_JWT_SECRET_FILE")
	if _, err := v.Verify(runToken(t, 0, "--user", "5", "--jwt-audience", "alo")); !errors.Is(err, auth.ErrSignature) {
		t.Fatalf("dev secret against another secret: err %v, want ErrSignature", err)
	}
}

func TestTokenRefuses(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, args := range [][]string{
		{},
		{"--user", "0"},
		{"--user", "x"},
		{"--user", "1", "--friends", "2,x"},
		{"--user", "1", "--friends", "-2"},
		{"--user", "1", "--ttl", "-1h"},
		{"--user", "1", "--jwt-secret-file", "/nonexistent/secret"},
		{"--user", "1", "extra"},
	} {
		runToken(t, 2, args...)
	}
}

// runToken runs `alo token args...`, checks its exit status, and returns
// what it printed.
func runToken(t *testing.T, want int, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := tokenMain(args, &out, &errOut); code != want {
		t.Fatalf("alo token %q: exit %d, want %d; stderr %s", args, code, want, errOut.String())
	}
	if want != 0 {
		if errOut.Len() == 0 {
			t.Fatalf("alo token %q: no error printed", args)
		}
		return ""
	}
	tok := strings.TrimSuffix(out.String(), "\n")
	if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, " \n") {
		t.Fatalf("alo token %q printed %q, want one JWT line", args, out.String())
	}
	return tok
}
