package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The UDP return-routability cookie, as DTLS's HelloVerifyRequest and QUIC's
// Retry do it: a hello from an address that has not proven it receives what
// is sent to it gets only a cookie back, in a reply no larger than the hello,
// and a session opens once a hello echoes that cookie from the same address.
// A forged source address never sees the cookie, so it can neither open a
// session in someone else's name nor make the gateway send anyone more than
// it was sent.
//
// The cookie is stateless: the window it was minted in and an HMAC-SHA-256
// (cut to 64 bits) over that window, the client's IP and port, under a secret
// that changes every window. A cookie is good in its window and the next, so
// it lives between one and two windows, and a gateway keeps two secrets, not
// a table of cookies. 64 bits are enough: a guess can only be checked by
// sending it, one datagram per guess, and the secret changes every window.
//
// Cookie: 1 byte of the window number, 8 of MAC, in unpadded base64url: 12
// characters, so the reply {"cookie":"<12>"} and its line break are 26
// bytes (CookieReplyLen). A hello shorter than that is not answered at all:
// a truncated cookie is no use, and an error would be a reply larger than
// the hello. Clients pad the first hello (QUIC requires the same), and a
// real hello — {"user_id":1,"friends":[2]} — is about that long anyway.

// DefaultCookieWindow is how long a cookie secret is in use; a cookie is
// valid for one to two of them.
const DefaultCookieWindow = 30 * time.Second

const (
	cookieMACLen = 8
	cookieRawLen = 1 + cookieMACLen
	// CookieLen is the length of a cookie as sent.
	CookieLen = (cookieRawLen*8 + 5) / 6
	// CookieReplyLen is the size of the cookie reply datagram,
	// {"cookie":"<cookie>"} and a line break: the least a first hello
	// must weigh to be answered.
	CookieReplyLen = len(`{"cookie":""}`) + CookieLen + 1
)

var cookieEncoding = base64.RawURLEncoding

// Cookies mints and verifies cookies. Safe for concurrent use; Mint and
// Verify take no lock and, after warm-up, allocate nothing but the cookie
// string.
type Cookies struct {
	window time.Duration
	now    func() time.Time // time.Now; a test moves it
	base   time.Time        // windows count from here, on the monotonic clock

	mu   sync.Mutex // serialises rotation
	keys atomic.Pointer[cookieKeys]
}

// cookieKeys are the secrets of one window and the one before; immutable
// once published.
type cookieKeys struct {
	epoch      uint64 // the window cur belongs to
	cur, prev  *cookieKey
	prevExists bool
}

type cookieKey struct {
	macs sync.Pool // *cookieMAC under this key
}

// cookieMAC is an HMAC with room for its input and output, kept together so
// that computing one allocates nothing (buffers passed to an interface's
// methods would escape).
type cookieMAC struct {
	h   hash.Hash
	msg [1 + 16 + 2]byte
	sum [sha256.Size]byte
}

func newCookieKey() *cookieKey {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // never fails (crypto/rand's promise since Go 1.24)
	k := &cookieKey{}
	k.macs.New = func() any { return &cookieMAC{h: hmac.New(sha256.New, secret)} }
	return k
}

// NewCookies returns a Cookies whose secrets change every window
// (DefaultCookieWindow when zero or negative).
func NewCookies(window time.Duration) *Cookies {
	if window <= 0 {
		window = DefaultCookieWindow
	}
	return &Cookies{window: window, now: time.Now, base: time.Now()}
}

// keysAt returns the keys for the window of now, rotating if it has begun.
func (c *Cookies) keysAt(epoch uint64) *cookieKeys {
	k := c.keys.Load()
	if k != nil && k.epoch >= epoch {
		return k
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k = c.keys.Load()
	if k != nil && k.epoch >= epoch {
		return k
	}
	next := &cookieKeys{epoch: epoch, cur: newCookieKey()}
	if k != nil && k.epoch+1 == epoch {
		// The previous window's secret stays good for this window, so a
		// cookie minted just before the turn is still accepted.
		next.prev, next.prevExists = k.cur, true
	}
	c.keys.Store(next)
	return next
}

// epoch is the number of the window now is in.
func (c *Cookies) epoch() uint64 { return uint64(max(0, c.now().Sub(c.base)) / c.window) }

// Mint returns the cookie for addr now.
func (c *Cookies) Mint(addr netip.AddrPort) string {
	k := c.keysAt(c.epoch())
	var raw [cookieRawLen]byte
	raw[0] = byte(k.epoch)
	k.cur.mac(raw[1:], raw[0], addr)
	return cookieEncoding.EncodeToString(raw[:])
}

// Verify reports whether cookie is one Mint gave addr (the same IP and port)
// in this window or the one before. The MAC is compared in constant time.
func (c *Cookies) Verify(addr netip.AddrPort, cookie string) bool {
	if len(cookie) != CookieLen {
		return false
	}
	var raw [cookieRawLen + 1]byte // base64 may decode a partial byte's room
	n, err := cookieEncoding.Decode(raw[:], []byte(cookie))
	if err != nil || n != cookieRawLen {
		return false
	}
	k := c.keysAt(c.epoch())
	var key *cookieKey
	switch raw[0] {
	case byte(k.epoch):
		key = k.cur
	case byte(k.epoch - 1):
		if !k.prevExists {
			return false
		}
		key = k.prev
	default:
		return false
	}
	var want [cookieMACLen]byte
	key.mac(want[:], raw[0], addr)
	return subtle.ConstantTimeCompare(want[:], raw[1:cookieRawLen]) == 1
}

// mac writes the cookie MAC of (epoch, addr) under k into dst, cookieMACLen
// bytes long. Only the low byte of the window number is in it: each window
// has its own secret, so the byte only says which of the two to use.
func (k *cookieKey) mac(dst []byte, epoch byte, addr netip.AddrPort) {
	m := k.macs.Get().(*cookieMAC)
	m.h.Reset()
	m.msg[0] = epoch
	ip := addr.Addr().Unmap().As16()
	copy(m.msg[1:17], ip[:])
	binary.BigEndian.PutUint16(m.msg[17:], addr.Port())
	m.h.Write(m.msg[:])
	copy(dst, m.h.Sum(m.sum[:0])[:cookieMACLen])
	k.macs.Put(m)
}
