package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DebugEnv, set to a number n, makes workers print the first n mismatches
// they find to stderr, with the transitions and the window they were
// judged against: what a developer needs to tell a server bug from a
// checker bug.
const DebugEnv = "ALO_BENCH_DEBUG"

// debugChecks and debugStrangers are the mismatches left to print, of
// each kind.
var debugChecks, debugStrangers atomic.Int64

func init() {
	n, _ := strconv.Atoi(os.Getenv(DebugEnv))
	debugChecks.Store(int64(n))
	debugStrangers.Store(int64(n))
	debugOn = n > 0
}

var debugOn bool

// explainStranger prints a message about a user the watcher does not list.
func (w *Worker) explainStranger(s *session, win window, x int, online bool) {
	if debugStrangers.Add(-1) >= 0 {
		s.mu.Lock()
		trace := strings.Join(s.trace, "\n    ")
		s.mu.Unlock()
		fmt.Fprintf(os.Stderr, "mismatch: watcher %d (friends %v) got online=%v about %d, not on its list\n  session hello %d ready %d end %d, lines:\n    %s\n",
			w.cfg.UserBase+int64(s.user), w.friendIDs(s.user), online, w.cfg.UserBase+int64(x), win.helloAt, win.readyAt, win.endAt, trace)
	}
}

// explain prints one mismatch.
func (w *Worker) explain(watcher, friend int, win window, l []expElem, cutLo, cutHi, owed int, rec []bool, r matchResult) {
	var b strings.Builder
	fmt.Fprintf(&b, "mismatch: watcher %d friend %d: %+v\n  session hello %d ready %d end %d\n  friend transitions:",
		w.cfg.UserBase+int64(watcher), w.cfg.UserBase+int64(friend), r, win.helloAt, win.readyAt, win.endAt)
	for k := range w.hist.Count(friend) {
		st, c := w.hist.At(friend, k)
		kind := "on"
		if k%2 == 1 {
			kind = "off"
		}
		fmt.Fprintf(&b, " %s@%d(conf %d)", kind, st, c)
	}
	fmt.Fprintf(&b, "\n  owed %v cut %d..%d owed-end %d; received %v\n", l, cutLo, cutHi, owed, rec)
	os.Stderr.WriteString(b.String())
}

// checkQueue holds ended sessions until the deadline has passed since their
// end, so every transition that could be owed to them is in the history
// (and confirmed) when they are checked.
type checkQueue struct {
	w  *Worker
	mu sync.Mutex
	q  []*session // in order of ending
}

func (c *checkQueue) init(w *Worker) { c.w = w }

func (c *checkQueue) add(s *session) {
	c.mu.Lock()
	c.q = append(c.q, s)
	c.mu.Unlock()
}

// run checks due sessions until ctx ends.
func (c *checkQueue) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.checkDue(c.w.clock.Now() - int64(c.w.cfg.Deadline) - int64(100*time.Millisecond))
		}
	}
}

// checkDue checks the queued sessions that ended before cutoff.
func (c *checkQueue) checkDue(cutoff int64) {
	c.mu.Lock()
	n := 0
	for n < len(c.q) && c.q[n].endAt <= cutoff {
		n++
	}
	due := slices.Clone(c.q[:n])
	c.q = slices.Delete(c.q, 0, n)
	c.mu.Unlock()
	var sc checkScratch
	for _, s := range due {
		c.w.checkSession(s, &sc)
	}
}

// checkScratch is reused across checks to spare allocations.
type checkScratch struct {
	friends []int32
	rec     []bool
	exp     []expElem
	dp      []int
}

// checkSession compares everything s received with what it was owed.
func (w *Worker) checkSession(s *session, sc *checkScratch) {
	s.mu.Lock()
	win := window{helloAt: s.helloAt, readyAt: s.readyAt, endAt: s.endAt}
	receipts := s.receipts
	s.receipts = nil
	foreign := s.foreign
	s.mu.Unlock()
	if win.readyAt == 0 {
		return
	}
	// Group by friend, keeping each friend's messages in arrival order.
	slices.SortStableFunc(receipts, func(a, b uint32) int { return int(a>>1) - int(b>>1) })
	sc.friends = append(sc.friends[:0], w.graph.Friends[s.user]...)
	slices.Sort(sc.friends)
	var res matchResult
	wrong, strangers := 0, 0
	i := 0
	for _, f := range sc.friends {
		for i < len(receipts) && int(receipts[i]>>1) < int(f) {
			res.spurious++ // about a user it does not watch
			strangers++
			w.explainStranger(s, win, int(receipts[i]>>1), receipts[i]&1 == 1)
			i++
		}
		sc.rec = sc.rec[:0]
		for i < len(receipts) && int(receipts[i]>>1) == int(f) {
			sc.rec = append(sc.rec, receipts[i]&1 == 1)
			i++
		}
		var lo, hi, owed int
		sc.exp, lo, hi, owed = expected(w.hist, int(f), win, int64(w.cfg.Deadline), sc.exp)
		var r matchResult
		r, sc.dp = match(sc.exp, lo, hi, owed, sc.rec, sc.dp)
		res.lost += r.lost
		res.dup += r.dup
		res.spurious += r.spurious
		if r != (matchResult{}) && debugChecks.Add(-1) >= 0 {
			w.explain(s.user, int(f), win, sc.exp, lo, hi, owed, sc.rec, r)
		}
		if !finalAgrees(sc.exp, owed, sc.rec) {
			wrong++
		}
	}
	for _, rc := range receipts[i:] {
		w.explainStranger(s, win, int(rc>>1), rc&1 == 1)
	}
	res.spurious += len(receipts) - i + foreign
	strangers += len(receipts) - i + foreign
	w.cnt.sessions.Add(1)
	w.cnt.checked.Add(int64(len(sc.friends)))
	w.cnt.lost.Add(int64(res.lost))
	w.cnt.dup.Add(int64(res.dup))
	w.cnt.spurious.Add(int64(res.spurious))
	w.cnt.wrongFinal.Add(int64(wrong))
	w.cnt.strangers.Add(int64(strangers))
}

// finalAgrees says whether the last state received matches the friend's
// state at the session's end — when that state is settled (nothing changed
// within the deadline before the end, nothing uncertain). It is the check
// that still means something under faults, where exactly-once is not
// promised but convergence is (DESIGN §3).
func finalAgrees(l []expElem, owedEnd int, rec []bool) bool {
	if owedEnd != len(l) {
		return true // a change too close to the end: unsettled
	}
	for _, e := range l {
		if e.void {
			return true
		}
	}
	want := len(l) > 0 && l[len(l)-1].online
	got := len(rec) > 0 && rec[len(rec)-1]
	return want == got
}

// finalCheck stops recording on every open ready session and checks it and
// every queued one now. The coordinator calls it once churn has stopped and
// the deadline has passed, so nothing is in flight.
func (w *Worker) finalCheck() {
	now := w.clock.Now()
	var open []*session
	w.mu.Lock()
	for i := range w.st {
		s := w.st[i].s
		if s == nil {
			continue
		}
		s.mu.Lock()
		if s.readyAt != 0 && s.endAt == 0 {
			s.endAt = now
			s.closing = true
			s.checked = true
			open = append(open, s)
		}
		s.mu.Unlock()
	}
	w.mu.Unlock()
	w.checks.checkDue(now)
	var sc checkScratch
	for _, s := range open {
		w.checkSession(s, &sc)
	}
}
