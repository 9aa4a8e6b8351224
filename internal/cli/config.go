package cli

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/presence"
)

// GatewayFlags registers the gateway's settings on fs and returns a function
// that builds the Config once fs is parsed. Every limit is a positive flag:
// gateway.Config reads a zero as "the default", so a --max-friends 0 that
// got through would silently mean 5000; refusing it at parse time is the
// only reading that says what it does.
func GatewayFlags(fs *flag.FlagSet) func() gateway.Config {
	var c gateway.Config
	c.MaxMessageBytes, c.MaxFriends, c.MaxQueueBytes = gateway.DefaultMaxMessageBytes, gateway.DefaultMaxFriends, gateway.DefaultMaxQueueBytes
	c.HelloTimeout, c.WriteTimeout, c.Heartbeat = gateway.DefaultHelloTimeout, gateway.DefaultWriteTimeout, gateway.DefaultHeartbeat
	c.RateLimit, c.RateBurst = gateway.DefaultRateLimit, gateway.DefaultRateBurst
	c.CloseGrace, c.DrainTimeout = gateway.DefaultCloseGrace, gateway.DefaultDrainTimeout
	c.MaxPushBytes = gateway.DefaultMaxPushBytes
	fs.StringVar(&c.ID, "id", "", "gateway `name`, unique among gateways (default: gw- and random hex); "+ReplicaPlaceholder+" in it, in --nats-user and in --nats-password-file is the container's compose replica number (or "+EnvReplica+")")
	PositiveVar(fs, &c.MaxMessageBytes, "max-message", "largest client message in `bytes`")
	PositiveVar(fs, &c.MaxFriends, "max-friends", "longest friend list, in `entries`")
	PositiveVar(fs, &c.HelloTimeout, "hello-timeout", "how long a connection may take to send its hello")
	PositiveVar(fs, &c.MaxQueueBytes, "max-queue", "`bytes` that may wait to be written to one client before it is disconnected as slow")
	PositiveVar(fs, &c.MaxPushBytes, "max-push", "largest push from the backend (alo.push.<user>) in `bytes`; larger ones are dropped")
	PositiveVar(fs, &c.WriteTimeout, "write-timeout", "how long one write to a client may block before it is disconnected")
	PositiveVar(fs, &c.RateLimit, "rate", "messages per second a client may send on average")
	PositiveVar(fs, &c.RateBurst, "burst", "messages a client may send at once")
	PositiveVar(fs, &c.Heartbeat, "heartbeat", "how often the gateway renews its lease with presence")
	PositiveVar(fs, &c.CloseGrace, "close-grace", "at shutdown, how long clients' writers have to send the close reason before their connections are closed")
	PositiveVar(fs, &c.DrainTimeout, "drain", "at shutdown, the most the gateway waits for, the close grace and the final flush to NATS included")
	c.MessageTimeout = gateway.DefaultMessageTimeout
	PositiveVar(fs, &c.MessageTimeout, "message-timeout", "how long a message may take to arrive once its first byte has: a client that sends half a line and stops is disconnected")
	var lim Limits
	lim.Register(fs)
	prefix := fs.Lookup("prefix")
	return func() gateway.Config {
		if prefix != nil {
			c.Prefix = prefix.Value.String()
		}
		lim.Apply(&c)
		return c
	}
}

// PresenceFlags registers presence's settings on fs and returns a function
// that builds the Config once fs is parsed.
func PresenceFlags(fs *flag.FlagSet) func() (presence.Config, error) {
	c := presence.Config{Lease: 3 * time.Second}
	policy := fs.String("policy", "watchers", "who sees a user's presence: watchers (everyone who lists them) or mutual (only those they list too)")
	PositiveVar(fs, &c.Lease, "lease", "how long a gateway may stay silent before its sessions end")
	fs.DurationVar(&c.Rebuild, "rebuild", 0, "how long presence collects sessions after starting before it notifies (default: the lease; 0: notify at once)")
	fs.StringVar(&c.LastSeenBucket, "last-seen-bucket", "", "JetStream KV bucket keeping users' last seen across restarts, created if absent (default: memory only)")
	fs.DurationVar(&c.StatusInterval, "status-interval", presence.DefaultStatusInterval, "flap damping: after a user's status change reaches watchers, how long the next waits (0: none)")
	prefix := fs.Lookup("prefix")
	return func() (presence.Config, error) {
		p, ok := presence.ParsePolicy(*policy)
		if !ok {
			return c, fmt.Errorf("--policy: %q is not watchers or mutual", *policy)
		}
		c.Policy = p
		// presence.Config reads a zero Rebuild as "the lease"; on the
		// command line 0 means what it says, no rebuild window.
		if c.Rebuild < 0 {
			return c, fmt.Errorf("--rebuild: %v must not be negative", c.Rebuild)
		}
		if c.StatusInterval < 0 {
			return c, fmt.Errorf("--status-interval: %v must not be negative", c.StatusInterval)
		}
		if c.StatusInterval == 0 {
			c.StatusInterval = -1 // presence.Config: negative is none
		}
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "rebuild" && c.Rebuild == 0 {
				c.Rebuild = -1
			}
		})
		if prefix != nil {
			c.Prefix = prefix.Value.String()
		}
		return c, nil
	}
}

// PrefixFlag registers --prefix; register it before GatewayFlags and
// PresenceFlags, which read it.
func PrefixFlag(fs *flag.FlagSet) {
	fs.String("prefix", "alo", "NATS subject `prefix`, so deployments can share a NATS cluster")
}

// ErrNotPositive is what a limit flag set to zero or less reports.
var ErrNotPositive = errors.New("must be greater than 0 (leave the flag out for its default)")

// PositiveVar registers a flag for a limit: a size, a count, a rate or a
// duration that must be greater than zero. *p holds the default on entry.
// A zero or negative value is refused when the flag is parsed, so the error
// names the flag (or its ALO_* variable) and the binary does not start.
func PositiveVar[T int | float64 | time.Duration](fs *flag.FlagSet, p *T, name, usage string) {
	fs.Var(positive[T]{p}, name, usage)
}

type positive[T int | float64 | time.Duration] struct{ p *T }

func (v positive[T]) String() string {
	if v.p == nil { // the flag package's zero-value probe
		return ""
	}
	return fmt.Sprint(*v.p)
}

// TypeName is what --help shows after the flag's name.
func (v positive[T]) TypeName() string {
	switch any(*new(T)).(type) {
	case int:
		return "int"
	case float64:
		return "float"
	}
	return "duration"
}

func (v positive[T]) Set(s string) error {
	var x T
	switch p := any(&x).(type) {
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return errors.New("not an integer")
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return errors.New("not a number")
		}
		*p = f
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("not a duration (examples: 500ms, 10s, 1m)")
		}
		*p = d
	}
	if !(x > 0) { // also refuses a float NaN
		return ErrNotPositive
	}
	*v.p = x
	return nil
}
