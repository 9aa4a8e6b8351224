package cli

import (
	"flag"
	"fmt"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/presence"
)

// GatewayFlags registers the gateway's settings on fs and returns a function
// that builds the Config once fs is parsed.
func GatewayFlags(fs *flag.FlagSet) func() gateway.Config {
	var c gateway.Config
	fs.StringVar(&c.ID, "id", "", "gateway `name`, unique among gateways (default: gw- and random hex)")
	fs.IntVar(&c.MaxMessageBytes, "max-message", gateway.DefaultMaxMessageBytes, "largest client message in `bytes`")
	fs.IntVar(&c.MaxFriends, "max-friends", gateway.DefaultMaxFriends, "longest friend list")
	fs.DurationVar(&c.HelloTimeout, "hello-timeout", gateway.DefaultHelloTimeout, "how long a connection may take to send its hello")
	fs.IntVar(&c.MaxQueueBytes, "max-queue", gateway.DefaultMaxQueueBytes, "`bytes` that may wait to be written to one client before it is disconnected as slow")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", gateway.DefaultWriteTimeout, "how long one write to a client may block before it is disconnected")
	fs.Float64Var(&c.RateLimit, "rate", gateway.DefaultRateLimit, "messages per second a client may send on average")
	fs.IntVar(&c.RateBurst, "burst", gateway.DefaultRateBurst, "messages a client may send at once")
	fs.DurationVar(&c.Heartbeat, "heartbeat", gateway.DefaultHeartbeat, "how often the gateway renews its lease with presence")
	fs.DurationVar(&c.CloseGrace, "close-grace", gateway.DefaultCloseGrace, "at shutdown, how long clients' writers have to send the close reason before their connections are closed")
	fs.DurationVar(&c.DrainTimeout, "drain", gateway.DefaultDrainTimeout, "at shutdown, the most the gateway waits for, the close grace and the final flush to NATS included")
	prefix := fs.Lookup("prefix")
	return func() gateway.Config {
		if prefix != nil {
			c.Prefix = prefix.Value.String()
		}
		return c
	}
}

// PresenceFlags registers presence's settings on fs and returns a function
// that builds the Config once fs is parsed.
func PresenceFlags(fs *flag.FlagSet) func() (presence.Config, error) {
	var c presence.Config
	policy := fs.String("policy", "watchers", "who sees a user's presence: watchers (everyone who lists them) or mutual (only those they list too)")
	fs.DurationVar(&c.Lease, "lease", 3*time.Second, "how long a gateway may stay silent before its sessions end")
	fs.DurationVar(&c.Rebuild, "rebuild", 0, "how long presence collects sessions after starting before it notifies (default: the lease)")
	prefix := fs.Lookup("prefix")
	return func() (presence.Config, error) {
		p, ok := presence.ParsePolicy(*policy)
		if !ok {
			return c, fmt.Errorf("--policy: %q is not watchers or mutual", *policy)
		}
		c.Policy = p
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
