package gateway

import (
	"errors"
	"hash/maphash"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alo-presence/alo/shared"
)

// Limits at the edge (DESIGN §4): who may connect how often, and how much
// one user may make presence do. The types here are the primitives; the
// accept loops and the session code call them.
//
// Everything keyed by something a client chooses (its address, its user id)
// lives in a limitTable: sharded, bounded in entries, with entries that
// expire. An entry is forgotten once it holds nothing and its token bucket
// has refilled, which loses no information (a new entry starts full), so
// expiry is exact rather than a guess at an idle time.

// Sentinels for what a limit refused; a *LimitError wraps one of them.
var (
	ErrConnsPerIP      = errors.New("gateway: too many connections from this address")
	ErrConnRate        = errors.New("gateway: new connections from this address too fast")
	ErrConnsTotal      = errors.New("gateway: too many connections on this gateway")
	ErrSourceTable     = errors.New("gateway: too many source addresses tracked")
	ErrSessionsPerUser = errors.New("gateway: too many sessions for this user")
	ErrUserTable       = errors.New("gateway: too many users tracked")
	ErrFriendRate      = errors.New("gateway: friend lists changed too fast")
	ErrFriendUnion     = errors.New("gateway: friend lists of the user's sessions name too many users")
)

// LimitError is a refusal by a limit: Err is one of the sentinels above,
// Code the error code the client is sent, Message what it reads.
type LimitError struct {
	Err     error
	Code    string
	Message string
}

func (e *LimitError) Error() string { return e.Err.Error() }
func (e *LimitError) Unwrap() error { return e.Err }

// Protocol returns the refusal as the error the client is sent.
func (e *LimitError) Protocol() *shared.ProtocolError {
	return &shared.ProtocolError{Code: e.Code, Message: e.Message}
}

// Refusals are preallocated: an accept loop under a flood refuses without
// allocating.
var (
	refusedPerIP = &LimitError{ErrConnsPerIP, shared.CodeTooManyConnections,
		"too many connections from your address: close one, or try again later"}
	refusedRate = &LimitError{ErrConnRate, shared.CodeTooManyConnections,
		"new connections from your address are too frequent: try again in a second"}
	refusedTotal = &LimitError{ErrConnsTotal, shared.CodeTooManyConnections,
		"the gateway is full: try again later or another gateway"}
	refusedSourceTable = &LimitError{ErrSourceTable, shared.CodeTooManyConnections,
		"the gateway is tracking too many addresses: try again later"}
	refusedSessions = &LimitError{ErrSessionsPerUser, shared.CodeTooManySessions,
		"this user has too many sessions open: close one first"}
	refusedUserTable = &LimitError{ErrUserTable, shared.CodeTooManySessions,
		"the gateway is tracking too many users: try again later"}
	refusedFriendRate = &LimitError{ErrFriendRate, shared.CodeFriendsRateLimited,
		"friend lists are changing too often for this user: the list was not changed; try again in a few seconds"}
)

// Defaults of AdmissionConfig and UserLimitsConfig, also the binaries' flag
// defaults. They are meant for a gateway facing the Internet; a loopback load
// test, whose thousands of clients share a few addresses, turns the per-IP
// ones off.
const (
	// A few hundred: an office or a carrier-grade NAT puts many people
	// behind one address, while one machine hogging the gateway's file
	// descriptors (the 5,000-socket attack of issue 10) is stopped well
	// below any file limit.
	DefaultMaxConnsPerIP = 256
	// New connections a second from one address on average, and at once:
	// enough for a NAT'd office reconnecting after its link came back, far
	// from the thousands a second one machine can open.
	DefaultConnRatePerIP  = 20
	DefaultConnBurstPerIP = 100
	// DefaultFDReserve is how many file descriptors the total cap keeps
	// free below RLIMIT_NOFILE: 3 standard streams and log files; the
	// listeners (TCP, UDP, HTTP) and the runtime's epoll and wake-up pipe;
	// the NATS connection and one more while it reconnects; the one
	// socket each accept loop holds while it refuses; a handful of
	// /healthz, /readyz and metrics scrapes; an admin's connection; files
	// opened to reload TLS certificates and JWKS. That is about 30; 64
	// leaves room for what the list forgets.
	DefaultFDReserve = 64
	// DefaultIdleSources is how many addresses without a connection the
	// admission table may remember (their rate buckets) beyond the ones
	// holding connections. Measured (TestAdmissionFloodOfAddresses): the
	// whole table, 85,000 entries with a 20,000-file limit, takes 6-7 MiB
	// whatever a flood of distinct addresses does.
	DefaultIdleSources = 1 << 16

	// Phones, laptops, tablets and browser tabs of one person.
	DefaultMaxSessionsPerUser = 16
	// Twice the per-session cap: a device with a stale list and one with
	// a fresh one still fit, while 100 sessions × 5,000 different friends
	// (issue 10: 24.7 M messages) do not.
	DefaultMaxFriendUnion = 2 * DefaultMaxFriends
	// Friend-list changes per user (the hello's list counts as one): a
	// person adds friends by hand; a script making presence rebuild a
	// 5,000-entry union a thousand times a second does not get to.
	DefaultFriendUpdatesPerSec = 1
	DefaultFriendUpdateBurst   = 10
)

// AdmissionConfig configures an Admission. The zero value is ready to use;
// a negative value turns that limit off.
type AdmissionConfig struct {
	// MaxConnsPerIP bounds the connections (and UDP sessions) from one
	// source: one IPv4 address, or one IPv6 /64, since a single host or
	// home is given a whole /64 (SLAAC, RFC 7421) and can pick any address
	// in it, so counting /128s would count nothing. Default
	// DefaultMaxConnsPerIP.
	MaxConnsPerIP int
	// ConnRatePerIP is how many new connections a second one source may
	// open on average, ConnBurstPerIP how many at once (a token bucket).
	// Defaults DefaultConnRatePerIP and DefaultConnBurstPerIP.
	ConnRatePerIP  float64
	ConnBurstPerIP int
	// MaxConns bounds the connections of the whole gateway. Default: the
	// process's file limit (RLIMIT_NOFILE, which Go raises to the hard
	// limit at start) less FDReserve, so that /healthz, NATS and an admin
	// still get a descriptor when it is reached.
	MaxConns int
	// FDReserve is what the default MaxConns keeps free. Default
	// DefaultFDReserve.
	FDReserve int
	// MaxSources bounds how many sources the table remembers. Default:
	// MaxConns + DefaultIdleSources, so that the sources holding
	// connections (at most MaxConns) always fit and only idle ones are
	// evicted. See Admission.
	MaxSources int
}

func (c AdmissionConfig) withDefaults() AdmissionConfig {
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if c.ConnRatePerIP == 0 {
		c.ConnRatePerIP = DefaultConnRatePerIP
	}
	if c.ConnBurstPerIP == 0 {
		c.ConnBurstPerIP = DefaultConnBurstPerIP
	}
	if c.FDReserve == 0 {
		c.FDReserve = DefaultFDReserve
	}
	if c.MaxConns == 0 {
		c.MaxConns = fdLimit() - c.FDReserve
	}
	if c.MaxSources == 0 {
		c.MaxSources = DefaultIdleSources
		if c.MaxConns > 0 {
			c.MaxSources += c.MaxConns
		}
	}
	return c
}

func (c AdmissionConfig) validate() error {
	switch {
	case c.MaxConns == 0 || c.MaxConns > 0 && c.MaxConns < 16:
		return errors.New("gateway: max connections must be at least 16 (is the file limit below the reserve?)")
	case c.ConnRatePerIP > 0 && c.ConnBurstPerIP < 1:
		return errors.New("gateway: connection burst must be at least 1")
	case c.MaxSources < 1:
		return errors.New("gateway: max sources must be positive")
	}
	return nil
}

// rlimitNofile reads the file limit; a variable so a test can pretend a low
// one.
var rlimitNofile = func() (uint64, error) {
	var rl syscall.Rlimit
	err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur, err
}

// fdLimit is the process's file limit, capped to an int; 1024 (the usual
// soft limit) when it cannot be read.
func fdLimit() int {
	n, err := rlimitNofile()
	if err != nil || n == 0 {
		return 1024
	}
	if n > math.MaxInt32 || n == math.MaxUint64 { // RLIM_INFINITY
		return math.MaxInt32
	}
	return int(n)
}

// Admission decides whether a new connection may be accepted, by its source
// address. It is safe for concurrent use; admitting costs one atomic add and
// one locked map lookup in one of 64 shards, with no allocation.
//
// Its memory is bounded: at most MaxSources entries, ~80 bytes each with the
// map's own overhead. When the
// table is full, a new source evicts one without connections (among a
// sample, the one refilled or longest idle); sources holding connections are
// never evicted, since their count must stay right. Only if every sampled
// entry holds connections is the new source refused (ErrSourceTable), which
// the default MaxSources (MaxConns + 65,536) makes all but impossible. An
// evicted source starts again with a full bucket: a flood of new addresses
// can thus give a throttled one a fresh burst, but only by spending 65,536
// connection attempts of its own to do it.
type Admission struct {
	cfg   AdmissionConfig
	total atomic.Int64
	ips   *limitTable[ipKey]
}

// NewAdmission returns an Admission for cfg.
func NewAdmission(cfg AdmissionConfig) (*Admission, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Admission{cfg: cfg, ips: newLimitTable(hashIPKey, cfg.MaxSources, cfg.ConnRatePerIP, cfg.ConnBurstPerIP)}, nil
}

// Config returns the configuration in effect, defaults filled in.
func (a *Admission) Config() AdmissionConfig { return a.cfg }

// Lease is an admitted connection; Release it exactly once when the
// connection ends. The zero Lease releases nothing.
type Lease struct {
	a     *Admission
	key   ipKey
	ip    bool // counted against its source
	total bool // counted against MaxConns
}

// Release gives back what the lease holds.
func (l Lease) Release() {
	if l.ip {
		l.a.ips.release(l.key)
	}
	if l.total {
		l.a.total.Add(-1)
	}
}

// Admit admits a connection from ip against all three limits: the total,
// the source's concurrent connections and its rate. On refusal the error is
// a *LimitError (code too_many_connections).
func (a *Admission) Admit(ip netip.Addr) (Lease, error) {
	if err := a.takeTotal(); err != nil {
		return Lease{}, err
	}
	l, err := a.AdmitSource(ip)
	if err != nil {
		a.total.Add(-1)
		return Lease{}, err
	}
	l.a, l.total = a, true
	return l, nil
}

// AdmitSource admits a connection from ip against its source's limits only,
// not the total: for a listener whose connections must not count against
// MaxConns (the HTTP one, so that /healthz keeps working when the gateway
// is full).
//
// A connection without an IP address (a pipe, a Unix socket: the zero Addr)
// has no source to count it against, and is admitted by this part.
func (a *Admission) AdmitSource(ip netip.Addr) (Lease, error) {
	if !ip.IsValid() {
		return Lease{}, nil
	}
	k := keyOf(ip)
	if err := a.ips.acquire(k, a.cfg.MaxConnsPerIP, true, true); err != nil {
		return Lease{}, err
	}
	return Lease{a: a, key: k, ip: true}, nil
}

// AdmitTotal admits a connection against MaxConns only: a WebSocket upgrade
// on a connection already admitted by AdmitSource.
func (a *Admission) AdmitTotal() (Lease, error) {
	if err := a.takeTotal(); err != nil {
		return Lease{}, err
	}
	return Lease{a: a, total: true}, nil
}

func (a *Admission) takeTotal() error {
	if a.cfg.MaxConns < 0 {
		return nil
	}
	if a.total.Add(1) > int64(a.cfg.MaxConns) {
		a.total.Add(-1)
		return refusedTotal
	}
	return nil
}

// RemoteIP is the IP address a connection comes from; the zero Addr for one
// that is not IP.
func RemoteIP(c net.Conn) netip.Addr {
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr()
	case *net.UDPAddr:
		return a.AddrPort().Addr()
	}
	return netip.Addr{}
}

// Conns is how many admitted connections count against MaxConns now.
func (a *Admission) Conns() int { return int(a.total.Load()) }

// Sources is how many sources the table remembers now.
func (a *Admission) Sources() int { return a.ips.len() }

// SourceRate is a token bucket per source address, bounded like
// Admission's table: for the UDP replies sent to addresses that have not
// proven they receive (cookies, errors), so that forged sources cannot turn
// the gateway into a stream aimed at a victim. Safe for concurrent use.
type SourceRate struct {
	t *limitTable[ipKey]
}

// Defaults of NewSourceRate's arguments as the UDP server uses them.
const (
	DefaultUDPRepliesPerIP = 10
	DefaultUDPReplyBurst   = 20
	DefaultUDPReplySources = 1 << 16
)

// NewSourceRate allows rate replies a second to one source on average and
// burst at once, remembering at most maxSources sources (all evictable: an
// evicted source gets a full bucket again, which costs the one who evicts it
// maxSources datagrams of its own).
func NewSourceRate(rate float64, burst, maxSources int) *SourceRate {
	return &SourceRate{t: newLimitTable(hashIPKey, max(1, maxSources), rate, max(1, burst))}
}

// Allow reports whether ip may be sent one more reply now.
func (r *SourceRate) Allow(ip netip.Addr) bool {
	return r.t.acquire(keyOf(ip), 0, false, true) == nil
}

// UserLimitsConfig configures UserLimits. The zero value is ready to use; a
// negative value turns that limit off.
type UserLimitsConfig struct {
	// MaxSessionsPerUser bounds one user's sessions on this gateway.
	// Default DefaultMaxSessionsPerUser.
	MaxSessionsPerUser int
	// FriendUpdatesPerSec is how many friend lists a second one user may
	// set on average (each hello with friends and each update counts),
	// FriendUpdateBurst how many at once. Defaults
	// DefaultFriendUpdatesPerSec and DefaultFriendUpdateBurst.
	FriendUpdatesPerSec float64
	FriendUpdateBurst   int
	// MaxUsers bounds how many users the table remembers; users with
	// sessions are never evicted, idle ones are (their bucket is
	// forgotten). Default MaxConns of the gateway + DefaultIdleSources; a
	// user needs a connection to be held, so that is never reached by
	// users with sessions.
	MaxUsers int
}

func (c UserLimitsConfig) withDefaults(maxConns int) UserLimitsConfig {
	if c.MaxSessionsPerUser == 0 {
		c.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if c.FriendUpdatesPerSec == 0 {
		c.FriendUpdatesPerSec = DefaultFriendUpdatesPerSec
	}
	if c.FriendUpdateBurst == 0 {
		c.FriendUpdateBurst = DefaultFriendUpdateBurst
	}
	if c.MaxUsers == 0 {
		c.MaxUsers = DefaultIdleSources + max(0, maxConns)
	}
	return c
}

// UserLimits counts each user's sessions on this gateway and meters their
// friend-list changes. Safe for concurrent use; no allocation per call once
// a user is known. A user's entry outlives their last session until their
// bucket refills, so closing and reopening sessions does not reset it.
type UserLimits struct {
	cfg UserLimitsConfig
	t   *limitTable[int64]
}

// NewUserLimits returns UserLimits for cfg; maxConns is the gateway's
// connection cap (Admission.Config().MaxConns), which sizes the default
// table bound.
func NewUserLimits(cfg UserLimitsConfig, maxConns int) (*UserLimits, error) {
	cfg = cfg.withDefaults(maxConns)
	if cfg.FriendUpdatesPerSec > 0 && cfg.FriendUpdateBurst < 1 {
		return nil, errors.New("gateway: friend update burst must be at least 1")
	}
	if cfg.MaxUsers < 1 {
		return nil, errors.New("gateway: max users must be positive")
	}
	u := &UserLimits{cfg: cfg, t: newLimitTable(hashUser, cfg.MaxUsers, cfg.FriendUpdatesPerSec, cfg.FriendUpdateBurst)}
	u.t.errFull, u.t.errCap, u.t.errRate = refusedUserTable, refusedSessions, refusedFriendRate
	return u, nil
}

// Open counts a new session of user; its hello's friend list, when it has
// one, counts as a friend-list change (withFriends). Refusals are
// *LimitError: too_many_sessions, or friends_rate_limited. Call Close when
// the session ends, and only if Open succeeded.
func (u *UserLimits) Open(user int64, withFriends bool) error {
	return u.t.acquire(user, u.cfg.MaxSessionsPerUser, true, withFriends)
}

// Close uncounts a session of user.
func (u *UserLimits) Close(user int64) { u.t.release(user) }

// FriendUpdate reports whether user may change a friend list now (a
// *LimitError with code friends_rate_limited when not). The session keeps
// its list, and tells the client so; the session goes on.
func (u *UserLimits) FriendUpdate(user int64) error {
	return u.t.take(user)
}

// FriendUnionWithin reports whether the union of sorted, duplicate-free
// friend lists (each session's current one, the changed session's new list
// in place of its old one, as NormalizeFriends leaves them) has at most
// limit entries; a negative limit is no limit. It does not allocate for up
// to 16 lists, and stops counting at limit+1, so its cost is bounded by
// lists × (limit+1).
func FriendUnionWithin(lists [][]int64, limit int) bool {
	if limit < 0 {
		return true
	}
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	if total <= limit { // one session, or lists that fit even if disjoint
		return true
	}
	var stack [16]int
	pos := stack[:0]
	if len(lists) > len(stack) {
		pos = make([]int, 0, len(lists))
	}
	pos = pos[:len(lists)]
	for i := range pos {
		pos[i] = 0
	}
	n := 0
	for {
		// The smallest head among the lists; every list at it moves on.
		var least int64
		found := false
		for i, l := range lists {
			if pos[i] < len(l) && (!found || l[pos[i]] < least) {
				least, found = l[pos[i]], true
			}
		}
		if !found {
			return true
		}
		if n++; n > limit {
			return false
		}
		for i, l := range lists {
			if pos[i] < len(l) && l[pos[i]] == least {
				pos[i]++
			}
		}
	}
}

// FriendUnionError is the refusal when FriendUnionWithin says no.
func FriendUnionError(limit int) *LimitError {
	return &LimitError{ErrFriendUnion, shared.CodeFriendUnionTooLarge,
		"your sessions' friend lists together name more than " + strconv.Itoa(limit) + " users: the list was not changed"}
}

// ipKey is a source: an IPv4 address, or an IPv6 /64.
type ipKey struct{ hi, lo uint64 }

// keyOf groups ip into its source. IPv4-mapped IPv6 addresses are IPv4.
func keyOf(ip netip.Addr) ipKey {
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		return ipKey{lo: 0xffff<<32 | uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := ip.As16()
	var hi uint64
	for _, x := range b[:8] {
		hi = hi<<8 | uint64(x)
	}
	// lo stays 0: an IPv6 /64 never equals an IPv4 key, whose lo is not.
	return ipKey{hi: hi}
}

// The shard of a key comes from a hash with a random seed, so that nobody
// can choose addresses or ids that all land in one shard.
var limitSeed = maphash.MakeSeed()

func hashIPKey(k ipKey) uint64 { return maphash.Comparable(limitSeed, k) }
func hashUser(u int64) uint64  { return maphash.Comparable(limitSeed, u) }

const (
	limitShards = 64
	// evictSample is how many entries a full shard looks at to find one
	// to evict.
	evictSample = 32
)

// limitEntry is what a table remembers of one key.
type limitEntry struct {
	n      int32   // holders: connections, sessions
	tokens float64 // the bucket, as of last
	last   int64   // nanoseconds since the table's epoch
}

// limitTable is a sharded map from key to entry, bounded in size, with a
// token bucket in each entry. A negative or zero rate is no rate limit.
type limitTable[K comparable] struct {
	hash     func(K) uint64
	perShard int
	rate     float64 // tokens per nanosecond
	burst    float64
	refill   int64 // nanoseconds an empty bucket takes to fill
	epoch    time.Time
	now      func() time.Time // time.Now; a test moves it
	shards   [limitShards]limitShard[K]

	errFull, errCap, errRate *LimitError
}

type limitShard[K comparable] struct {
	mu        sync.Mutex
	m         map[K]limitEntry
	peak      int   // most entries since the map was last rebuilt
	evicted   int   // entries evicted since the map was last rebuilt
	nextSweep int64 // when to forget the entries that hold nothing
	_         [64]byte
}

func newLimitTable[K comparable](hash func(K) uint64, maxEntries int, ratePerSec float64, burst int) *limitTable[K] {
	t := &limitTable[K]{
		hash:     hash,
		perShard: max(1, (maxEntries+limitShards-1)/limitShards),
		epoch:    time.Now(),
		now:      time.Now,
		errFull:  refusedSourceTable, errCap: refusedPerIP, errRate: refusedRate,
	}
	if ratePerSec > 0 {
		t.rate = ratePerSec / 1e9
		t.burst = float64(burst)
		t.refill = int64(t.burst / t.rate)
	}
	for i := range t.shards {
		t.shards[i].m = make(map[K]limitEntry)
	}
	return t
}

func (t *limitTable[K]) shard(k K) *limitShard[K] {
	return &t.shards[t.hash(k)%limitShards]
}

func (t *limitTable[K]) nanos(now time.Time) int64 { return int64(now.Sub(t.epoch)) }

// fill brings e's bucket up to now.
func (t *limitTable[K]) fill(e *limitEntry, now int64) {
	if t.rate == 0 {
		return
	}
	if d := now - e.last; d > 0 {
		e.tokens = min(t.burst, e.tokens+float64(d)*t.rate)
		e.last = now
	}
}

// idle reports whether e holds nothing and its bucket is full again: then
// forgetting it loses nothing.
func (t *limitTable[K]) idle(e limitEntry, now int64) bool {
	return e.n == 0 && (t.rate == 0 || now-e.last >= t.refill || e.tokens >= t.burst)
}

// acquire takes a token from k's bucket when token is set, refusing when
// it is empty, and adds a holder to k when count is set, refusing when k
// already has maxN (when positive).
func (t *limitTable[K]) acquire(k K, maxN int, count, token bool) error {
	sh := t.shard(k)
	ns := t.nanos(t.now())
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if ns >= sh.nextSweep {
		t.sweepLocked(sh, ns)
	}
	e, found := sh.m[k]
	if !found {
		if len(sh.m) >= t.perShard {
			if !t.evictLocked(sh, ns) {
				return t.errFull
			}
			// Deleting from a full Go map leaves tombstones, and enough of
			// them make it grow although its length does not: measured,
			// a flood of 4 M addresses grew the default table from 12 to
			// 21 MiB. Rebuilding it now and then keeps it at its size, for
			// O(1) per eviction.
			if sh.evicted++; sh.evicted > 2*t.perShard {
				t.rebuildLocked(sh)
			}
		}
		e = limitEntry{tokens: t.burst, last: ns}
	}
	t.fill(&e, ns)
	if count && maxN > 0 && int(e.n) >= maxN {
		return t.errCap // found: a new entry holds nothing
	}
	if token && t.rate > 0 {
		if e.tokens < 1 {
			sh.m[k] = e
			return t.errRate
		}
		e.tokens--
	}
	if count {
		e.n++
	}
	sh.m[k] = e
	sh.peak = max(sh.peak, len(sh.m))
	return nil
}

// take takes a token from k's bucket; a key not in the table has a full one.
func (t *limitTable[K]) take(k K) error {
	return t.acquire(k, 0, false, true)
}

// release removes a holder from k. The entry stays until a sweep finds it
// idle, so its bucket is remembered.
func (t *limitTable[K]) release(k K) {
	sh := t.shard(k)
	sh.mu.Lock()
	if e, ok := sh.m[k]; ok && e.n > 0 {
		e.n--
		sh.m[k] = e
	}
	sh.mu.Unlock()
}

// evictLocked makes room in a full shard: among a sample of its entries,
// it deletes an idle one, or else the one without holders that was used
// longest ago. It reports whether it made room.
func (t *limitTable[K]) evictLocked(sh *limitShard[K], now int64) bool {
	var victim K
	oldest, seen, found := int64(math.MaxInt64), 0, false
	for k, e := range sh.m { // map iteration starts at a random place
		if t.idle(e, now) {
			delete(sh.m, k)
			return true
		}
		if e.n == 0 && e.last < oldest {
			victim, oldest, found = k, e.last, true
		}
		if seen++; seen >= evictSample {
			break
		}
	}
	if found {
		delete(sh.m, victim)
	}
	return found
}

// sweepLocked forgets the shard's idle entries, and, after a flood has
// passed, rebuilds its map, since a Go map never gives back the memory it
// grew to.
func (t *limitTable[K]) sweepLocked(sh *limitShard[K], now int64) {
	for k, e := range sh.m {
		if t.idle(e, now) {
			delete(sh.m, k)
		}
	}
	if sh.peak >= 1024 && len(sh.m) <= sh.peak/4 {
		t.rebuildLocked(sh)
	}
	every := int64(10 * time.Second)
	if t.refill > 0 {
		every = min(max(t.refill, int64(time.Second)), int64(time.Minute))
	}
	sh.nextSweep = now + every
}

// rebuildLocked copies the shard's entries into a new map of their size.
func (t *limitTable[K]) rebuildLocked(sh *limitShard[K]) {
	m := make(map[K]limitEntry, len(sh.m))
	for k, e := range sh.m {
		m[k] = e
	}
	sh.m, sh.peak, sh.evicted = m, len(m), 0
}

func (t *limitTable[K]) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
