package presence

import (
	"fmt"
	"testing"
	"time"

	"github.com/alo-presence/alo/shared"
)

// countEmitter counts what the state machine emits, to benchmark it alone.
type countEmitter struct{ notes, states int }

func (c *countEmitter) notify(*user, int64, shared.Presence) { c.notes++ }
func (c *countEmitter) session(string, shared.SessionState)  { c.states++ }
func (c *countEmitter) askSync(string)                       {}

// BenchmarkIndexChurn measures the presence index: users with 20 friends
// among 10,000 come online (with a snapshot) and go offline, each
// transition notifying their online watchers.
func BenchmarkIndexChurn(b *testing.B) {
	const users, friends = 10_000, 20
	out := &countEmitter{}
	st := newLedger(PolicyWatchers, shared.MustSubjects(""), time.Minute, out)
	now := time.Now()
	friendsOf := func(u int64) []int64 {
		f := make([]int64, friends)
		for i := range f {
			f[i] = 1 + (u*7919+int64(i)*104729)%users
		}
		return f
	}
	open := func(u int64, sid string) {
		st.apply(&shared.Batch{Gateway: "g", Boot: "b", Events: []shared.Event{
			{Type: shared.EventOpen, Session: sid, User: u, Friends: friendsOf(u)}}}, now)
	}
	// Half the users online, as a steady state.
	for u := int64(1); u <= users/2; u++ {
		open(u, fmt.Sprint("s", u))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		u := int64(users/2 + 1 + i%(users/2))
		sid := fmt.Sprint("c", i)
		open(u, sid)
		st.apply(&shared.Batch{Gateway: "g", Boot: "b", Events: []shared.Event{
			{Type: shared.EventClose, Session: sid, User: u}}}, now)
	}
	b.ReportMetric(float64(out.notes)/float64(b.N), "notes/op")
}
