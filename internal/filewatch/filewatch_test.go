package filewatch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// put replaces a file by rename, so that a poll never sees it half-written.
func put(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatcher: a change is applied once, a refused change keeps the value
// and is reported once, and a missing file is an error until it is back.
func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	put(t, a, []byte("1"))
	put(t, b, []byte("x"))
	var mu sync.Mutex
	var applied []string
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logs, mu: &mu}, nil))
	w, err := New("test", []string{a, b}, 5*time.Millisecond, log, func(c [][]byte) error {
		mu.Lock()
		defer mu.Unlock()
		if string(c[0]) == "bad" {
			return errors.New("refused")
		}
		applied = append(applied, string(c[0])+string(c[1]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		return applied[len(applied)-1]
	}

	put(t, b, []byte("y"))
	waitFor(t, "1y", func() bool { return last() == "1y" })
	put(t, a, []byte("bad"))
	waitFor(t, "an error", func() bool { return w.Err() != nil })
	os.Remove(b)
	waitFor(t, "not exist", func() bool { return errors.Is(w.Err(), os.ErrNotExist) })
	put(t, a, []byte("2"))
	put(t, b, []byte("y"))
	waitFor(t, "2y", func() bool { return last() == "2y" })
	if w.Err() != nil {
		t.Fatalf("err %v after a good reload", w.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"1x", "1y", "2y"}; len(applied) != len(want) {
		t.Fatalf("applied %q, want %q: each content once", applied, want)
	}
	if n := bytes.Count(logs.Bytes(), []byte("reload failed")); n != 2 {
		t.Fatalf("%d reload-failed lines, want 2 (one per bad state):\n%s", n, logs.String())
	}
}

func TestTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	os.WriteFile(p, make([]byte, MaxFileBytes+1), 0o600)
	if _, err := ReadFile(p); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
	_, err := New("test", []string{p}, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)), func([][]byte) error { return nil })
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("New: err %v, want ErrTooLarge", err)
	}
}

type syncWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
