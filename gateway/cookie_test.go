package gateway

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alo-presence/alo/shared"
)

func newTestCookies(window time.Duration) (*Cookies, *fakeClock) {
	c := NewCookies(window)
	clk := newFakeClock()
	c.now, c.base = clk.now, clk.now()
	return c, clk
}

func TestCookies(t *testing.T) {
	const window = 30 * time.Second
	addr := netip.MustParseAddrPort("192.0.2.1:40000")
	for _, tc := range []struct {
		name   string
		verify netip.AddrPort
		wait   time.Duration // between Mint and Verify
		edit   func(string) string
		want   bool
	}{
		{name: "valid", verify: addr, want: true},
		{name: "valid, v4-mapped", verify: netip.MustParseAddrPort("[::ffff:192.0.2.1]:40000"), want: true},
		{name: "wrong address", verify: netip.MustParseAddrPort("192.0.2.2:40000")},
		{name: "wrong port", verify: netip.MustParseAddrPort("192.0.2.1:40001")},
		{name: "later in the window", verify: addr, wait: window - time.Nanosecond, want: true},
		{name: "previous secret still valid", verify: addr, wait: window, want: true},
		// Minted half way through its window: good until the end of the next.
		{name: "previous secret, end of its grace", verify: addr, wait: window + window/2 - time.Nanosecond, want: true},
		{name: "expired", verify: addr, wait: window + window/2},
		{name: "expired long ago", verify: addr, wait: 256 * window}, // the window byte comes round again
		{name: "empty", verify: addr, edit: func(string) string { return "" }},
		{name: "short", verify: addr, edit: func(s string) string { return s[:len(s)-1] }},
		{name: "long", verify: addr, edit: func(s string) string { return s + "A" }},
		{name: "not base64", verify: addr, edit: func(s string) string { return "!" + s[1:] }},
		{name: "padded base64", verify: addr, edit: func(s string) string { return s[:len(s)-1] + "=" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newTestCookies(window)
			clk.advance(window / 2)
			cookie := c.Mint(addr)
			if len(cookie) != CookieLen {
				t.Fatalf("cookie %q: %d characters, want %d", cookie, len(cookie), CookieLen)
			}
			// Time passes in steps, as on a live gateway whose secrets
			// rotate with traffic.
			for left := tc.wait; left > 0; left -= min(left, window/3) {
				clk.advance(min(left, window/3))
				c.Mint(netip.MustParseAddrPort("198.51.100.1:1"))
			}
			if tc.edit != nil {
				cookie = tc.edit(cookie)
			}
			if got := c.Verify(tc.verify, cookie); got != tc.want {
				t.Fatalf("Verify(%v, %q) = %v, want %v", tc.verify, cookie, got, tc.want)
			}
		})
	}
}

func TestCookieTampered(t *testing.T) {
	c, _ := newTestCookies(0)
	addr := netip.MustParseAddrPort("[2001:db8::1]:5000")
	cookie := c.Mint(addr)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range cookie {
		for _, r := range alphabet {
			if byte(r) == cookie[i] {
				continue
			}
			forged := cookie[:i] + string(r) + cookie[i+1:]
			// 9 bytes are 12 base64 characters exactly: every
			// character carries 6 bits of the cookie.
			if c.Verify(addr, forged) {
				t.Fatalf("forged %q (from %q) verifies", forged, cookie)
			}
		}
	}
	if !c.Verify(addr, cookie) {
		t.Fatal("the untouched cookie fails")
	}
}

func TestCookieSecrets(t *testing.T) {
	addr := netip.MustParseAddrPort("192.0.2.1:40000")
	a, clk := newTestCookies(time.Second)
	b, _ := newTestCookies(time.Second)
	if b.Verify(addr, a.Mint(addr)) {
		t.Fatal("another gateway's secret verifies")
	}
	// After a silence of more than a window, the secret of the last busy
	// window is not kept: it was not the previous one.
	cookie := a.Mint(addr)
	clk.advance(1500 * time.Millisecond)
	a.Mint(addr) // rotation happens here, a window and a half later
	if !a.Verify(addr, cookie) {
		t.Fatal("a cookie of the previous window fails")
	}
	cookie = a.Mint(addr)
	clk.advance(2 * time.Second)
	if a.Verify(addr, cookie) {
		t.Fatal("a cookie two windows old verifies")
	}
}

func TestCookieReplyLen(t *testing.T) {
	c, _ := newTestCookies(0)
	reply := append(shared.AppendCookie(nil, c.Mint(netip.MustParseAddrPort("192.0.2.1:1"))), '\n')
	if len(reply) != CookieReplyLen {
		t.Fatalf("reply %q: %d bytes, CookieReplyLen %d", reply, len(reply), CookieReplyLen)
	}
	// The hello of the README's nc session is long enough to be answered.
	if hello := `{"user_id":1,"friends":[2]}` + "\n"; len(hello) < CookieReplyLen {
		t.Fatalf("%q (%d bytes) is shorter than the reply", hello, len(hello))
	}
	if !strings.HasPrefix(string(reply), `{"cookie":"`) {
		t.Fatalf("%q", reply)
	}
}

func TestCookiesConcurrent(t *testing.T) {
	c := NewCookies(time.Millisecond) // rotating all the time
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := netip.AddrPortFrom(ipN(w), uint16(1000+w))
			ok := 0
			for range 2000 {
				if c.Verify(addr, c.Mint(addr)) {
					ok++
				}
			}
			// Mint and Verify may fall two windows apart on a busy
			// machine; most must not.
			if ok < 1000 {
				t.Errorf("worker %d: %d of 2000 fresh cookies verified", w, ok)
			}
		}()
	}
	wg.Wait()
}

func BenchmarkCookie(b *testing.B) {
	c := NewCookies(0)
	addr := netip.MustParseAddrPort("192.0.2.1:40000")
	cookie := c.Mint(addr)
	b.Run("mint", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Mint(addr)
			}
		})
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !c.Verify(addr, cookie) {
					b.Error("cookie fails")
					return
				}
			}
		})
	})
}
