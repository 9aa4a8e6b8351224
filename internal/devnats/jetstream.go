// Package devnats is what the dev binary alo adds to the options of its
// embedded NATS server. It is apart from friends so that the gateway binary,
// which imports friends, does not link nats-server.
package devnats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
)

// Limits of the embedded JetStream: a dev machine's disk and memory are
// not the bucket's to fill.
const (
	MaxMemory = 64 << 20
	MaxStore  = 1 << 30
)

// ErrDataDir is wrapped by EnableJetStream's error for a store it cannot
// make.
var ErrDataDir = errors.New("devnats: cannot make the JetStream store")

// EnableJetStream turns JetStream on in opts, as alo --friends kv needs for
// its bucket. The store is dataDir/jetstream when dataDir is set (--data: the
// bucket survives a restart of alo), else a new temporary directory. Call
// cleanup after the server has shut down: it removes a temporary store and
// does nothing to dataDir.
func EnableJetStream(opts *server.Options, dataDir string) (cleanup func(), err error) {
	cleanup = func() {}
	var dir string
	if dataDir != "" {
		dir = filepath.Join(dataDir, "jetstream")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDataDir, err)
		}
	} else {
		if dir, err = os.MkdirTemp("", "alo-jetstream-"); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDataDir, err)
		}
		cleanup = func() { os.RemoveAll(dir) }
	}
	opts.JetStream = true
	opts.StoreDir = dir
	opts.JetStreamMaxMemory = MaxMemory
	opts.JetStreamMaxStore = MaxStore
	return cleanup, nil
}
