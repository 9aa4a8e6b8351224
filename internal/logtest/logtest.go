// Package logtest is a log destination that tests read while the code under
// test writes to it from other goroutines. It depends on nothing of ALO's,
// so any package's tests can use it, including those that alotest imports.
package logtest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// Buffer collects log lines, safely for concurrent writers and readers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// New returns a Buffer and a debug-level text logger that writes to it.
func New() (*slog.Logger, *Buffer) {
	b := &Buffer{}
	return b.Logger(), b
}

// Logger returns a debug-level text logger writing to b.
func (b *Buffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the lines logged so far that contain substr.
func (b *Buffer) Lines(substr string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		if l != "" && strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// Count returns how many lines logged so far contain substr.
func (b *Buffer) Count(substr string) int { return len(b.Lines(substr)) }
