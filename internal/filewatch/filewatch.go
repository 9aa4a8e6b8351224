// Package filewatch keeps something built from a few small files (keys,
// certificates) current while the process runs, by polling their content.
//
// Polling the content rather than watching for events is deliberate: the
// files are small, a read every few seconds costs nothing, and it sees every
// way a file can change — rewritten in place, replaced by rename, or swapped
// under a Kubernetes secret mount (a symlink flip that inotify on the file
// itself misses) — without a dependency or platform differences.
package filewatch

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// MaxFileBytes bounds each watched file: a larger one is an error, so a
// wrong path (a log file, a device) cannot make every poll expensive.
const MaxFileBytes = 1 << 20

// ErrTooLarge is returned for a file over MaxFileBytes.
var ErrTooLarge = errors.New("filewatch: file larger than 1 MiB")

// Watcher reads a fixed list of files and hands their content to an apply
// function, once at New and again whenever the content changes. Apply builds
// the new value and swaps it in; when it fails, whatever it built before
// stays in use and the error is logged once (not once per poll) and kept for
// Err, so a half-written rotation never replaces a good value with a bad one.
type Watcher struct {
	paths    []string
	interval time.Duration
	apply    func(contents [][]byte) error
	log      *slog.Logger
	what     string

	mu   sync.Mutex
	last [sha256.Size]byte // content (or read error) last handed to apply
	err  error             // from the last read or apply; nil when current
}

// New reads paths and calls apply with their contents, in the order given.
// An error from reading or from apply is returned: a service should not start
// with keys or certificates it cannot load. what names the content in log
// lines ("tls certificate"). interval is how often Run polls.
func New(what string, paths []string, interval time.Duration, log *slog.Logger,
	apply func(contents [][]byte) error) (*Watcher, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("filewatch: interval must be positive, not %v", interval)
	}
	w := &Watcher{paths: paths, interval: interval, apply: apply, log: log, what: what}
	contents, sum, err := w.read()
	if err == nil {
		err = apply(contents)
	}
	if err != nil {
		return nil, err
	}
	w.last = sum
	return w, nil
}

// Run polls the files every interval until ctx is done, then returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.Check()
		}
	}
}

// Check reads the files once and, if their content differs from what apply
// last saw, applies it. It returns the current error, as Err does.
func (w *Watcher) Check() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	contents, sum, err := w.read()
	if err != nil {
		// A read error is a state too: remember it so that a file missing for
		// a minute logs once, and so that its return, even with the old
		// content, is applied and clears the error.
		sum = sha256.Sum256([]byte("error: " + err.Error()))
	}
	if sum == w.last {
		return w.err
	}
	w.last = sum
	if err == nil {
		err = w.apply(contents)
	}
	w.err = err
	if err != nil {
		w.log.Error("reload failed; keeping the previous "+w.what, "err", err)
	} else {
		w.log.Info("reloaded "+w.what, "files", w.paths)
	}
	return err
}

// Err returns the error of the last reload attempt, or nil when the files'
// current content is what is in use. For readiness checks and tests.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// read returns the files' contents and one hash over all of them.
func (w *Watcher) read() ([][]byte, [sha256.Size]byte, error) {
	h := sha256.New()
	contents := make([][]byte, len(w.paths))
	for i, p := range w.paths {
		b, err := ReadFile(p)
		if err != nil {
			return nil, [sha256.Size]byte{}, err
		}
		contents[i] = b
		// Length-prefixed so that moving bytes from one file to the next
		// changes the hash.
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return contents, sum, nil
}

// ReadFile reads a file of at most MaxFileBytes; a larger one is ErrTooLarge.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s: %w", path, ErrTooLarge)
	}
	return b, nil
}
