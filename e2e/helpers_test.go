package e2e

import (
	"slices"
	"testing"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
)

// barrierUser is a user id that test clients list as a friend, so that its
// arrival proves everything sent before it has arrived.
const barrierUser = 999_999

// system is one NATS, one presence, and one gateway.
func system(t *testing.T, pcfg presence.Config, gcfg gateway.Config) string {
	t.Helper()
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, pcfg)
	_, addr, _ := alotest.Gateway(t, ns, gcfg)
	return addr
}

// barrier connects barrierUser through addr and checks that each watcher's
// next message is its arrival: whatever the system was going to send them
// before it would have come first. The watchers must list barrierUser.
func barrier(t *testing.T, addr string, watchers ...*alotest.Client) {
	t.Helper()
	var ids []int64 // listed back, for the mutual policy
	for _, w := range watchers {
		ids = append(ids, w.User)
	}
	b, _ := alotest.Connect(t, addr, barrierUser, ids...)
	for _, w := range watchers {
		w.ExpectState(barrierUser, true)
	}
	b.Send(`{"online": false}`)
	b.ExpectClosed()
	for _, w := range watchers {
		w.ExpectState(barrierUser, false)
	}
}

func wantOnline(t *testing.T, got []int64, want ...int64) {
	t.Helper()
	if want == nil {
		want = []int64{}
	}
	if got == nil {
		got = []int64{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("snapshot %v, want %v", got, want)
	}
}
