package bench

import (
	"context"
	"fmt"
	"time"
)

// hotuser: a user with many online watchers connects and leaves; how long
// until the last watcher hears of it.
func (r *runner) hotuser(ctx context.Context) error {
	n, err := r.populate(ctx, 1, 3000)
	if err != nil {
		return err
	}
	watchers := min(n, r.o.Watchers)
	time.Sleep(time.Second)
	if err := r.fleet.startPhase(ctx); err != nil {
		return err
	}
	var onH, offH Histogram
	for c := 0; c < r.o.Cycles; c++ {
		r.fleet.setLabel(fmt.Sprintf("cycle %d", c+1))
		for _, online := range []bool{true, false} {
			k := r.fleet.hist.Count(0)
			op := OpConnect
			if !online {
				op = OpDisconnect
			}
			if err := r.fleet.one(ctx, Command{Op: op, User: 0, Wait: 10 * time.Second}); err != nil {
				return fmt.Errorf("hot user %s: %w", op, err)
			}
			got, last := r.waitHot(ctx, k, watchers)
			start, _ := r.fleet.hist.At(0, k)
			hc := HotCycle{Online: online, Notified: got, Watchers: watchers, LastAfter: time.Duration(last - start)}
			if got == 0 {
				hc.LastAfter = 0
			}
			r.res.Hot = append(r.res.Hot, hc)
			if online {
				onH.Record(int64(hc.LastAfter))
			} else {
				offH.Record(int64(hc.LastAfter))
			}
			// Rest past the deadline so the checker can tell transitions apart.
			time.Sleep(r.o.Cooldown)
		}
	}
	p, err := r.fleet.endPhase(ctx)
	if err != nil {
		return err
	}
	if err := r.settleAndCheck(ctx); err != nil {
		return err
	}
	on, off := onH.Summary(), offH.Summary()
	// The floor of a fan-out to w watchers: the same number of raw socket
	// writes, read the way the tool reads, on the same machine.
	ceil, fl := "", time.Duration(0)
	if c := r.res.Ceilings; c != nil && c.FanOut.N > 0 {
		fl = c.FanOut.P50
		ceil = fmtDur(fl) + fmt.Sprintf(" (raw write to %d sockets)", c.FanOutConns)
	}
	r.res.row(fmt.Sprintf("hot user online → last of %d watchers, median", watchers), fmtDur(on.P50), ceil, ratio(float64(on.P50), float64(fl)), "", nil)
	r.res.row("hot user online → last watcher, worst", fmtDur(on.Max), "", "", "≤ 20ms", le(on.Max, 20*time.Millisecond))
	r.res.row("hot user offline → last watcher, median", fmtDur(off.P50), ceil, ratio(float64(off.P50), float64(fl)), "", nil)
	r.res.row("hot user offline → last watcher, worst", fmtDur(off.Max), "", "", "≤ 20ms", le(off.Max, 20*time.Millisecond))
	short := 0
	for _, h := range r.res.Hot {
		if h.Notified < int64(h.Watchers) {
			short++
		}
	}
	r.res.row("cycles where a watcher was not notified", fmt.Sprint(short), "", "", "0", boolp(short == 0))
	// Per watcher, over the cycles (nothing else moved meanwhile).
	r.res.Online, r.res.Offline = p.Online.Summary(), p.Offline.Summary()
	r.res.row("per-watcher online p50 / p99", fmtDur(r.res.Online.P50)+" / "+fmtDur(r.res.Online.P99), "", "", "", nil)
	r.res.row("per-watcher offline p50 / p99", fmtDur(r.res.Offline.P50)+" / "+fmtDur(r.res.Offline.P99), "", "", "", nil)
	r.correctness(true)
	return nil
}

// waitHot polls until want watchers heard of the hot user's transition k,
// or a few seconds pass.
func (r *runner) waitHot(ctx context.Context, k, want int) (int64, int64) {
	deadline := time.Now().Add(r.o.Deadline + 2*time.Second)
	for {
		time.Sleep(20 * time.Millisecond)
		_ = r.fleet.poll(ctx)
		n, last := r.fleet.hotTransition(k)
		if n >= int64(want) || time.Now().After(deadline) || ctx.Err() != nil {
			return n, last
		}
	}
}
