package cli

import (
	"flag"
	"strconv"
	"time"

	"github.com/alo-presence/alo/gateway"
)

// Limits are the limits at the edge as the flags set them (issue 10 item
// 4, DESIGN §4). On the command line 0 turns a limit off; in the gateway's
// configs 0 is the default and a negative value is off, so Config maps one
// onto the other.
type Limits struct {
	MaxConnsPerIP       int
	ConnRatePerIP       float64
	ConnBurstPerIP      int
	MaxConns            int
	MaxSessionsPerUser  int
	MaxFriendUnion      int
	FriendUpdatesPerSec float64
	FriendUpdateBurst   int
	UDPCookie           bool
	UDPCookieWindow     time.Duration
	UDPRepliesPerIP     float64
	UDPReplyBurst       int
}

// Register adds the limit flags to fs. The total's default is computed
// from this process's file limit, so --help shows the number in force.
func (l *Limits) Register(fs *flag.FlagSet) {
	fs.IntVar(&l.MaxConnsPerIP, "max-conns-per-ip", gateway.DefaultMaxConnsPerIP, "connections (TCP, WebSocket, UDP sessions) from one IPv4 address or IPv6 /64 (0: no limit)")
	fs.Float64Var(&l.ConnRatePerIP, "conn-rate-per-ip", gateway.DefaultConnRatePerIP, "new connections per second from one address on average (0: no limit)")
	fs.IntVar(&l.ConnBurstPerIP, "conn-burst-per-ip", gateway.DefaultConnBurstPerIP, "new connections from one address at once")
	fs.IntVar(&l.MaxConns, "max-conns", DefaultMaxConns(), "connections on this gateway; the default is the file limit less "+strconv.Itoa(gateway.DefaultFDReserve)+", kept for /healthz, NATS and an admin (0: no limit)")
	fs.IntVar(&l.MaxSessionsPerUser, "max-sessions-per-user", gateway.DefaultMaxSessionsPerUser, "sessions of one user on this gateway (0: no limit)")
	fs.IntVar(&l.MaxFriendUnion, "max-friend-union", gateway.DefaultMaxFriendUnion, "distinct friends across one user's sessions on this gateway (0: no limit)")
	fs.Float64Var(&l.FriendUpdatesPerSec, "friend-updates-per-sec", gateway.DefaultFriendUpdatesPerSec, "friend lists (hellos and updates) one user may set per second on average (0: no limit)")
	fs.IntVar(&l.FriendUpdateBurst, "friend-updates-burst", gateway.DefaultFriendUpdateBurst, "friend lists one user may set at once")
	fs.BoolVar(&l.UDPCookie, "udp-cookie", true, "a UDP hello must echo a cookie the gateway sent to its address (return routability); turn off only where source addresses are trusted")
	fs.DurationVar(&l.UDPCookieWindow, "udp-cookie-window", gateway.DefaultCookieWindow, "how long a UDP cookie secret is used; a cookie is good for one to two of these")
	fs.Float64Var(&l.UDPRepliesPerIP, "udp-replies-per-ip", gateway.DefaultUDPRepliesPerIP, "cookies and errors per second sent to one address without a session")
	fs.IntVar(&l.UDPReplyBurst, "udp-replies-burst", gateway.DefaultUDPReplyBurst, "cookies and errors sent to one address without a session at once")
}

// DefaultMaxConns is --max-conns's default: the file limit less the
// reserve, as gateway.AdmissionConfig computes it.
func DefaultMaxConns() int {
	a, err := gateway.NewAdmission(gateway.AdmissionConfig{})
	if err != nil {
		// The file limit leaves less than the reserve and 16: no default
		// cap can be kept, and the operator sets one (or raises ulimit -n).
		return 0
	}
	return a.Config().MaxConns
}

// Admission returns the admission settings the flags ask for.
func (l *Limits) Admission() gateway.AdmissionConfig {
	return gateway.AdmissionConfig{
		MaxConnsPerIP:  offIfZero(l.MaxConnsPerIP),
		ConnRatePerIP:  offIfZeroF(l.ConnRatePerIP),
		ConnBurstPerIP: l.ConnBurstPerIP,
		MaxConns:       offIfZero(l.MaxConns),
	}
}

// Users returns the per-user settings the flags ask for.
func (l *Limits) Users() gateway.UserLimitsConfig {
	return gateway.UserLimitsConfig{
		MaxSessionsPerUser:  offIfZero(l.MaxSessionsPerUser),
		FriendUpdatesPerSec: offIfZeroF(l.FriendUpdatesPerSec),
		FriendUpdateBurst:   l.FriendUpdateBurst,
	}
}

// Apply sets the limits the flags ask for in c.
func (l *Limits) Apply(c *gateway.Config) {
	c.Admission = l.Admission()
	c.Users = l.Users()
	c.MaxFriendUnion = l.FriendUnion()
	c.UDPGate = gateway.UDPGateConfig{
		NoCookie:     !l.UDPCookie,
		CookieWindow: l.UDPCookieWindow,
		RepliesPerIP: l.UDPRepliesPerIP,
		ReplyBurst:   l.UDPReplyBurst,
	}
}

// FriendUnion returns the cap on the friend union (negative: none).
func (l *Limits) FriendUnion() int { return offIfZero(l.MaxFriendUnion) }

func offIfZero(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

func offIfZeroF(f float64) float64 {
	if f <= 0 {
		return -1
	}
	return f
}
