package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alo-presence/alo/shared"
)

// Config configures a Server. The zero value is ready to use: each field's
// comment gives the default that a zero value stands for.
type Config struct {
	// ID names this gateway to presence; it must be unique among running
	// gateways and a valid subject token. Default: "gw-" and random hex.
	ID string
	// Prefix is the NATS subject prefix. Default "alo".
	Prefix string
	// MaxMessageBytes bounds one client message (a line, without its line
	// ending). Default 64 KiB.
	MaxMessageBytes int
	// MaxFriends bounds a friend list. Default 5000.
	MaxFriends int
	// HelloTimeout is how long a new connection may take to send its hello.
	// Default 10s.
	HelloTimeout time.Duration
	// MaxQueueBytes bounds what may wait to be written to one client; a
	// client that lets it fill is disconnected. Default 1 MiB, which holds a
	// full snapshot of MaxFriends friends.
	MaxQueueBytes int
	// WriteTimeout is how long one write to a client may block before the
	// client is disconnected. Default 10s.
	WriteTimeout time.Duration
	// RateLimit is how many messages per second a client may send on
	// average, and RateBurst how many at once; a client over it gets an error
	// and is disconnected. Defaults 100 and 200.
	RateLimit float64
	RateBurst int
	// Heartbeat is how often the gateway renews its lease with presence.
	// Default 1s.
	Heartbeat time.Duration
	// ResyncInterval is the least time between the end of one resend of
	// every session and the start of the next: requests meanwhile (presence
	// starting, a digest mismatch, a reconnect, dropped messages) are merged
	// into one resend at the end of it. It bounds what a flood of requests
	// costs, and is short next to presence's rebuild window (the lease,
	// three heartbeats) so recovery is not delayed. Default: half of
	// Heartbeat (500ms).
	ResyncInterval time.Duration
	// CloseGrace is how long, at shutdown, sessions' writers have to send
	// what is queued and the close reason before the gateway closes their
	// connections regardless (a client that does not read would otherwise
	// hold the shutdown for WriteTimeout). At most DrainTimeout. Default 1s.
	CloseGrace time.Duration
	// DrainTimeout bounds what shutdown waits for: the close grace, then
	// the final flush of the sessions' close events to NATS, so that a
	// gateway cut off from NATS still stops in time. Default 3s.
	DrainTimeout time.Duration
	// MessageTimeout is how long a message, once its first byte has come,
	// may take to arrive whole: a client that sends half a line and stops
	// is disconnected (message_timeout), so that idle connections cannot each hold
	// a MaxMessageBytes buffer forever. Idle connections between messages
	// are not affected. Default 10s.
	MessageTimeout time.Duration
	// Admission bounds connections per source address, their rate, and
	// the gateway's total (limits.go). The zero value is the Internet-safe
	// default; a negative field turns that limit off.
	Admission AdmissionConfig
	// Users bounds sessions per user and how often a user may set friend
	// lists (limits.go). Zero value: defaults; negative: off.
	Users UserLimitsConfig
	// MaxFriendUnion bounds the distinct friends across one user's
	// sessions on this gateway, so that one user cannot make presence do
	// work quadratic in sessions. Default DefaultMaxFriendUnion (twice
	// MaxFriends' default); negative: no limit. At least MaxFriends.
	MaxFriendUnion int
	// UDPGate configures what a UDP datagram from an address without a
	// session may get back: the return-routability cookie and the rate of
	// replies (udpgate.go). The zero value is the Internet-safe default.
	UDPGate UDPGateConfig
	// Auth verifies the hello's token (--auth jwt; *auth.Verifier is one).
	// Default nil: --auth none, the hello's user_id is trusted.
	Auth Authenticator
	// TokenLeeway is how long after its token's exp a session ends: the
	// verifier's clock-skew leeway, so that a token it has just accepted
	// does not end its session at once. Default 0.
	TokenLeeway time.Duration
	// Friends says where friend lists come from. Default FriendsClient,
	// or FriendsKV when FriendStore is set; FriendsToken needs Auth,
	// FriendsKV a FriendStore.
	Friends FriendsMode
	// FriendStore is the store of friend lists of FriendsKV (friends.go):
	// each hello's list is looked up there and its changes apply to online
	// sessions at once. *friends.Source is one. Default nil.
	FriendStore FriendStore
	// MaxPushBytes bounds one push from the backend (the JSON object on a
	// user's push subject); a larger one is dropped and logged. Clients get
	// it wrapped, 9 bytes more. At most MaxQueueBytes less 64. Default
	// 16 KiB.
	MaxPushBytes int
	// Inbox is how many NATS messages may wait for the dispatcher before NATS
	// drops them (and the gateway resynchronises). Default 262144: a
	// reconnect storm's notifications, at 8 bytes a slot.
	Inbox int
	// Metrics is where the gateway registers its Prometheus metrics
	// (docs/OPERATIONS.md), labelled with its ID. Default nil: none.
	Metrics prometheus.Registerer
}

// Defaults of Config, also used by the binaries' flags.
const (
	DefaultMaxMessageBytes = 64 << 10
	DefaultMaxFriends      = 5000
	DefaultHelloTimeout    = 10 * time.Second
	DefaultMaxQueueBytes   = 1 << 20
	DefaultWriteTimeout    = 10 * time.Second
	DefaultRateLimit       = 100
	DefaultRateBurst       = 200
	DefaultHeartbeat       = time.Second
	DefaultCloseGrace      = time.Second
	DefaultDrainTimeout    = 3 * time.Second
	DefaultMessageTimeout  = 10 * time.Second
	DefaultMaxPushBytes    = 16 << 10
)

// UDPGateConfig configures the UDP gate (Config.UDPGate).
type UDPGateConfig struct {
	// NoCookie turns the return-routability cookie off: a UDP hello opens
	// a session at once. Only for networks where source addresses are
	// trusted. Default false (cookie on).
	NoCookie bool
	// CookieWindow is how long a cookie secret is in use; a cookie is good
	// for one to two windows. Default DefaultCookieWindow (30s).
	CookieWindow time.Duration
	// RepliesPerIP is how many replies (cookies, errors) a second one
	// address without a session gets on average, ReplyBurst how many at
	// once. Defaults DefaultUDPRepliesPerIP and DefaultUDPReplyBurst.
	RepliesPerIP float64
	ReplyBurst   int
}

func (c Config) withDefaults() Config {
	if c.ID == "" {
		c.ID = "gw-" + randomHex(6)
	}
	if c.Prefix == "" {
		c.Prefix = shared.DefaultPrefix
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxFriends == 0 {
		c.MaxFriends = DefaultMaxFriends
	}
	if c.HelloTimeout == 0 {
		c.HelloTimeout = DefaultHelloTimeout
	}
	if c.MaxQueueBytes == 0 {
		c.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateBurst == 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = c.Heartbeat / 2
	}
	if c.CloseGrace == 0 {
		c.CloseGrace = DefaultCloseGrace
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.UDPGate.CookieWindow == 0 {
		c.UDPGate.CookieWindow = DefaultCookieWindow
	}
	if c.UDPGate.RepliesPerIP == 0 {
		c.UDPGate.RepliesPerIP = DefaultUDPRepliesPerIP
	}
	if c.UDPGate.ReplyBurst == 0 {
		c.UDPGate.ReplyBurst = DefaultUDPReplyBurst
	}
	if c.MessageTimeout == 0 {
		c.MessageTimeout = DefaultMessageTimeout
	}
	if c.MaxFriendUnion == 0 {
		c.MaxFriendUnion = DefaultMaxFriendUnion
	}
	if c.Friends == "" && c.FriendStore != nil {
		c.Friends = FriendsKV
	}
	if c.Friends == "" {
		c.Friends = FriendsClient
	}
	if c.MaxPushBytes == 0 {
		c.MaxPushBytes = DefaultMaxPushBytes
	}
	if c.Inbox == 0 {
		c.Inbox = 1 << 18
	}
	return c
}

func (c Config) validate() error {
	switch {
	case !shared.ValidGatewayID(c.ID):
		return errors.New("gateway: id must be 1-64 letters, digits, '-' or '_'")
	case c.MaxMessageBytes < 64:
		return errors.New("gateway: max message size must be at least 64 bytes")
	case c.MaxFriends < 0:
		return errors.New("gateway: max friends must not be negative")
	case c.HelloTimeout < 0, c.WriteTimeout < 0, c.Heartbeat < 0, c.ResyncInterval < 0, c.CloseGrace < 0, c.DrainTimeout < 0:
		return errors.New("gateway: durations must be positive")
	case c.MaxQueueBytes < c.MaxMessageBytes:
		return errors.New("gateway: the outbound queue must hold at least one message")
	case c.RateLimit < 0 || c.RateBurst < 1:
		return errors.New("gateway: rate limit must be positive, burst at least 1")
	case c.MaxPushBytes < 2 || c.MaxPushBytes > c.MaxQueueBytes-64:
		return errors.New("gateway: max push size must be at least 2 bytes and fit in the outbound queue")
	case c.Inbox < 1:
		return errors.New("gateway: inbox must be positive")
	case c.UDPGate.CookieWindow < 0 || c.UDPGate.RepliesPerIP < 0 || c.UDPGate.ReplyBurst < 1:
		return errors.New("gateway: udp cookie window and reply rate must be positive, burst at least 1")
	case c.MessageTimeout < 0:
		return errors.New("gateway: message timeout must be positive")
	case c.MaxFriendUnion >= 0 && c.MaxFriendUnion < c.MaxFriends:
		return errors.New("gateway: max friend union must be at least max friends")
	case c.TokenLeeway < 0:
		return errors.New("gateway: token leeway must not be negative")
	}
	switch c.Friends {
	case FriendsClient:
	case FriendsToken:
		if c.Auth == nil {
			return ErrFriendsNeedAuth
		}
	case FriendsKV:
		if c.FriendStore == nil {
			return errors.New("gateway: friends kv needs a FriendStore")
		}
	default:
		return fmt.Errorf("gateway: friends %q is not client, token or kv", c.Friends)
	}
	if c.FriendStore != nil && c.Friends != FriendsKV {
		return fmt.Errorf("gateway: a FriendStore is for friends kv, not %s", c.Friends)
	}
	return nil
}

// ErrFriendsNeedAuth: friend lists from the token need a token.
var ErrFriendsNeedAuth = errors.New("gateway: friends from the token need token auth (--auth jwt)")

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
