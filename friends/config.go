package friends

import (
	"errors"
	"fmt"
	"time"

	"github.com/alo-presence/alo/shared"
)

// Config configures a Source. The zero value binds to the default bucket.
type Config struct {
	// Bucket is the KV bucket of friend lists. Default
	// shared.DefaultFriendsBucket ("alo_friends").
	Bucket string
	// MaxFriends is the longest list accepted; a longer value is refused
	// whole. The gateway passes its own --max-friends. Default 5000, the
	// gateway's default.
	MaxFriends int
	// Create makes Open create the bucket when it does not exist, with the
	// limits below. Default false: the backend owns the bucket, and a
	// gateway needs no permission to create it.
	Create bool
	// Replicas is the replica count of a bucket Open creates. Default 1.
	Replicas int
	// MaxValueSize bounds a value in a bucket Open creates, in bytes.
	// Default DefaultMaxValueSize, room for 5000 ids of 19 digits.
	MaxValueSize int32
	// RetryDelay is the wait between attempts to re-create a watch that
	// ended or could not be created. Default 1s.
	RetryDelay time.Duration
}

// Defaults.
const (
	DefaultMaxFriends   = 5000
	DefaultMaxValueSize = 128 << 10
	DefaultRetryDelay   = time.Second
)

// ErrConfig is wrapped by the error of Open for a bad Config.
var ErrConfig = errors.New("friends: bad config")

func (c Config) withDefaults() Config {
	if c.Bucket == "" {
		c.Bucket = shared.DefaultFriendsBucket
	}
	if c.MaxFriends == 0 {
		c.MaxFriends = DefaultMaxFriends
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = DefaultMaxValueSize
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.MaxFriends < 0:
		return fmt.Errorf("%w: max friends must not be negative", ErrConfig)
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("%w: replicas must be 1 to 5", ErrConfig)
	case c.MaxValueSize < 0:
		return fmt.Errorf("%w: max value size must not be negative", ErrConfig)
	case c.RetryDelay < 0:
		return fmt.Errorf("%w: retry delay must not be negative", ErrConfig)
	}
	return nil
}
