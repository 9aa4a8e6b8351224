package gateway_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
)

// TestFriendUnionAttack is issue 10's first paragraph: one user opens many
// sessions, each with 5,000 different friends, so that presence's watch
// list for the user (the union) grows with every session and every open
// costs more than the last. It reports what the attack cost the bus
// (messages through NATS) and the process (CPU: gateway, presence and NATS
// are all in it), with the limits and without them.
//
//	go test -run TestFriendUnionAttack -v ./gateway/
//	ALO_ATTACK_SESSIONS=100 go test -run TestFriendUnionAttack/unlimited -v -timeout 30m ./gateway/
func TestFriendUnionAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("loads presence")
	}
	const friends = 5000
	attack := func(t *testing.T, cfg gateway.Config, sessions int) (opened int, msgs uint64, cpu time.Duration) {
		ns := alotest.NATS(t)
		alotest.Presence(t, ns, presence.Config{})
		srv, addr, _ := alotest.Gateway(t, ns, cfg)
		settle := func() uint64 { // until the bus is quiet: presence is done
			var last uint64
			quiet := time.Now()
			alotest.WaitFor(t, 10*time.Minute, "the bus quiet", func() bool {
				v, _ := ns.Varz(nil)
				if n := uint64(v.InMsgs + v.OutMsgs); n != last {
					last, quiet = n, time.Now()
				}
				return time.Since(quiet) > 500*time.Millisecond
			})
			return last
		}
		base, cpu0 := settle(), cpuTime()
		for i := range sessions {
			ids := make([]string, friends)
			for k := range ids {
				ids[k] = strconv.Itoa(2 + i*friends + k)
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if _, err := fmt.Fprintf(c, `{"user_id": 1, "friends": [%s]}`+"\n", strings.Join(ids, ",")); err != nil {
				t.Fatal(err)
			}
			// The answer: ready (none of the friends is online), or the
			// refusal.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Minute))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
			if strings.Contains(line, `"ready"`) {
				opened++
			}
		}
		end := settle()
		if srv.Stats().Sessions != opened {
			t.Fatalf("%d sessions, %d ready", srv.Stats().Sessions, opened)
		}
		return opened, end - base, cpuTime() - cpu0
	}
	sessions := 100
	t.Run("limited", func(t *testing.T) {
		opened, msgs, cpu := attack(t, gateway.Config{}, sessions)
		t.Logf("defaults: %d of %d sessions opened, %d NATS messages, %v CPU", opened, sessions, msgs, cpu.Round(time.Millisecond))
		if opened > 2 {
			t.Fatalf("%d sessions of 5,000 different friends each, want at most 2 (--max-friend-union 10000)", opened)
		}
	})
	t.Run("unlimited", func(t *testing.T) {
		// The whole attack takes minutes of both cores; by default a
		// tenth of it shows the growth.
		n := 10
		if s, err := strconv.Atoi(os.Getenv("ALO_ATTACK_SESSIONS")); err == nil && s > 0 {
			n = s
		}
		off := gateway.Config{MaxFriendUnion: -1, Users: gateway.UserLimitsConfig{MaxSessionsPerUser: -1, FriendUpdatesPerSec: -1}}
		opened, msgs, cpu := attack(t, off, n)
		t.Logf("limits off: %d of %d sessions opened, %d NATS messages, %v CPU", opened, n, msgs, cpu.Round(time.Millisecond))
	})
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
