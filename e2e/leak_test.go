package e2e

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
)

// After shutdown, no goroutine of gateway or presence is left, whatever state
// the sessions were in.
func TestNoGoroutineLeftAfterShutdown(t *testing.T) {
	ns := alotest.NATS(t)
	stopPresence := alotest.Presence(t, ns, presence.Config{})
	_, addr, stopGateway := alotest.Gateway(t, ns, gateway.Config{HelloTimeout: time.Minute})
	a, _ := alotest.Connect(t, addr, 1, 2)
	alotest.Connect(t, addr, 2, 1)
	a.ExpectState(2, true)
	alotest.Dial(t, addr)                     // never says hello
	alotest.Dial(t, addr).Send(`{"user_id":`) // half a hello
	stopGateway()
	stopPresence()
	alotest.WaitFor(t, alotest.Timeout, "goroutines to end", func() bool {
		return ours() == ""
	})
}

// ours returns the stacks of goroutines running ALO's server code.
func ours() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "alo/gateway.") || strings.Contains(g, "alo/presence.") {
			left = append(left, g)
		}
	}
	return strings.Join(left, "\n\n")
}
