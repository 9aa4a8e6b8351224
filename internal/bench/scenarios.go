package bench

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// measureCeilings runs the machine's own figures before ALO is loaded, so
// they do not compete with it for the two cores.
func (r *runner) measureCeilings(ctx context.Context) {
	c := &Ceilings{}
	r.res.Ceilings = c
	fmt.Fprintln(r.o.Progress, "ceilings: tcp round trip, nats request/reply, nats pub/sub, bare server memory")
	var err error
	if c.TCPRoundTrip, err = TCPRoundTrip(20000); err != nil {
		r.res.note("tcp ceiling: %v", err)
	}
	if c.NATSRequest, err = NATSRoundTrip(10000); err != nil {
		r.res.note("nats request ceiling: %v", err)
	}
	if c.NATSPubSub, err = NATSPubSub(2_000_000); err != nil {
		r.res.note("nats pub/sub ceiling: %v", err)
	}
	c.BareConns = 5000
	if r.o.Scenario == "idle" {
		c.BareConns = min(r.o.Conns, 15000) // the tool's own file limit
	}
	if c.BarePerConnRSS, err = BarePerConn(ctx, c.BareConns, max(4, r.o.Sources)); err != nil {
		c.BareErr = err.Error()
		r.res.note("bare server ceiling: %v", err)
	}
}

// floor is the connect→notify path's floor: a TCP round trip (in and out)
// plus a NATS round trip (gateway → presence → gateway).
func (r *runner) floor() time.Duration {
	if c := r.res.Ceilings; c != nil && c.TCPRoundTrip.N > 0 && c.NATSRequest.N > 0 {
		return c.TCPRoundTrip.P50 + c.NATSRequest.P50
	}
	return 0
}

func le(v, limit time.Duration) *bool { return boolp(v <= limit) }

// latencyRows adds the latency figures of a phase.
func (r *runner) latencyRows(p *Phase, targets bool) {
	on, off := p.Online.Summary(), p.Offline.Summary()
	r.res.Online, r.res.Offline = on, off
	r.res.Ready = p.Ready.Summary()
	r.res.Lag = p.Lag.Summary()
	fl := r.floor()
	flS, flR := "", ""
	if fl > 0 {
		flS, flR = fmtDur(fl)+" (tcp+nats rtt)", ratio(float64(on.P50), float64(fl))
	}
	var t50, t99 string
	var m50, m99 *bool
	if targets {
		t50, t99 = "≤ 250µs", "≤ 2ms"
		m50, m99 = le(on.P50, 250*time.Microsecond), le(on.P99, 2*time.Millisecond)
	}
	r.res.row("connect→notified online p50", fmtDur(on.P50), flS, flR, t50, m50)
	r.res.row("connect→notified online p99", fmtDur(on.P99), "", "", t99, m99)
	r.res.row("connect→notified online p99.9", fmtDur(on.P999), "", "", "", nil)
	offR := ""
	if fl > 0 {
		offR = ratio(float64(off.P50), float64(fl))
	}
	r.res.row("disconnect→notified offline p50", fmtDur(off.P50), flS, offR, "", nil)
	r.res.row("disconnect→notified offline p99", fmtDur(off.P99), "", "", "", nil)
	r.res.row("disconnect→notified offline p99.9", fmtDur(off.P999), "", "", "", nil)
	r.res.row("notifications timed (online/offline)", fmt.Sprintf("%d / %d", on.N, off.N), "", "", "", nil)
	r.res.row("connect→own ready p50 / p99", fmtDur(r.res.Ready.P50)+" / "+fmtDur(r.res.Ready.P99), "", "", "", nil)
	r.res.row("tool schedule lag p99 (not server time)", fmtDur(r.res.Lag.P99), "", "", "", nil)
	if p.Delta.Scheduled > 0 {
		r.res.row("churn events scheduled / without a user", fmt.Sprintf("%d / %d", p.Delta.Scheduled, p.Delta.Skipped), "", "", "", nil)
	}
	if r.res.Lag.P99 > r.o.Deadline/4 {
		r.res.note("the tool fell behind its schedule (lag p99 %v): the machine is saturated; latencies include the tool's own delays", fmtDur(r.res.Lag.P99))
	}
}

// rateRows adds notifications per second and the server's CPU per
// notification for a phase.
func (r *runner) rateRows(p *Phase, cpu time.Duration, cpuOK bool, target bool) {
	rate := float64(p.Delta.Notifs) / p.Dur.Seconds()
	r.res.NotifsPerSec = rate
	ceil, rat := "", ""
	if c := r.res.Ceilings; c != nil && c.NATSPubSub > 0 {
		ceil, rat = siCount(c.NATSPubSub)+" (nats pub/sub)", ratio(rate, c.NATSPubSub)
	}
	var t string
	var m *bool
	if target {
		t, m = "≥ 300k", boolp(rate >= 300000)
	}
	r.res.row("notifications/s delivered", siCount(rate), ceil, rat, t, m)
	if cpuOK && p.Delta.Notifs > 0 {
		r.res.CPUPerNotif = cpu / time.Duration(p.Delta.Notifs)
		r.res.ServerCores = cpu.Seconds() / p.Dur.Seconds()
		r.res.row("server CPU per notification", fmtDur(r.res.CPUPerNotif), "", "", "", nil)
		r.res.row("server CPU (cores busy)", fmt.Sprintf("%.2f", r.res.ServerCores), "", "", "", nil)
	}
	r.res.ToolCores = p.ToolCPU.Seconds() / p.Dur.Seconds()
	r.res.row("tool CPU (cores busy, same machine)", fmt.Sprintf("%.2f", r.res.ToolCores), "", "", "", nil)
}

// correctness adds the exactly-once figures; in a run without faults any
// of them above zero fails it.
func (r *runner) correctness(assert bool) {
	c := r.fleet.sum()
	r.res.Counters = c
	r.res.row("lost (owed, not received in time)", fmt.Sprint(c.Lost), "", "", "0", boolp(c.Lost == 0))
	r.res.row("duplicated", fmt.Sprint(c.Dup), "", "", "0", boolp(c.Dup == 0))
	r.res.row("spurious (never owed)", fmt.Sprint(c.Spurious), "", "", "0", boolp(c.Spurious == 0))
	if c.Strangers > 0 {
		r.res.row("  of which about users not on the list", fmt.Sprint(c.Strangers), "", "", "", nil)
	}
	r.res.row("wrong final state", fmt.Sprint(c.WrongFinal), "", "", "0", boolp(c.WrongFinal == 0))
	r.res.row("late (> deadline, counted lost if past the session)", fmt.Sprint(c.Late), "", "", "", nil)
	if !assert {
		return
	}
	if c.Lost+c.Dup+c.Spurious+c.WrongFinal > 0 {
		r.res.fail("notifications: %d lost, %d duplicated, %d spurious (%d about users not on the list), %d pairs in the wrong final state",
			c.Lost, c.Dup, c.Spurious, c.Strangers, c.WrongFinal)
	}
	if c.BadLines+c.ErrorMsgs+c.Unmatched > 0 {
		r.res.fail("protocol: %d bad lines, %d error messages, %d notifications about no transition", c.BadLines, c.ErrorMsgs, c.Unmatched)
	}
	if c.DialFails+c.ServerCloses > 0 {
		r.res.fail("connections: %d dials failed, %d sessions closed by the server", c.DialFails, c.ServerCloses)
	}
	if c.Sessions == 0 || c.Notifs == 0 {
		r.res.fail("nothing was checked: %d sessions, %d notifications", c.Sessions, c.Notifs)
	}
}

// rssRow adds the server's resident memory per connection.
func (r *runner) rssRow(before, after int64, conns int, target bool) {
	if conns <= 0 || after == 0 {
		return
	}
	per := float64(after-before) / float64(conns)
	r.res.RSSPerConn = per
	ceil, rat := "", ""
	if c := r.res.Ceilings; c != nil && c.BarePerConnRSS > 0 {
		ceil = fmtBytes(c.BarePerConnRSS) + fmt.Sprintf(" (bare server, %d conns)", c.BareConns)
		rat = ratio(per, c.BarePerConnRSS)
	}
	var t string
	var m *bool
	if target {
		t, m = "≤ 6 KiB", boolp(per <= 6*1024)
	}
	r.res.row(fmt.Sprintf("server RSS per connection (%d conns)", conns), fmtBytes(per), ceil, rat, t, m)
	r.res.row("server RSS total", fmtBytes(float64(after)), "", "", "", nil)
}

// smoke: small, a few seconds, asserting zero lost and zero duplicated.
func (r *runner) smoke(ctx context.Context) error {
	if _, err := r.populate(ctx, 0.5, 2000); err != nil {
		return err
	}
	r.fleet.setLabel("churn")
	p, cpu, ok, err := r.measuredPhase(ctx, func() error { return r.churn(ctx, r.o.Rate, r.o.Duration, 0.5) })
	if err != nil {
		return err
	}
	if err := r.settleAndCheck(ctx); err != nil {
		return err
	}
	r.latencyRows(&p, false)
	r.rateRows(&p, cpu, ok, false)
	r.correctness(true)
	return nil
}

// latency: 10k users, 20 friends, 2k events/s.
func (r *runner) latency(ctx context.Context) error {
	rss0, _, _ := r.sample()
	n, err := r.populate(ctx, 0.5, 2000)
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	rss1, _, _ := r.sample()
	if r.o.Warmup > 0 {
		r.fleet.setLabel("warmup")
		if err := r.churn(ctx, r.o.Rate, r.o.Warmup, 0.5); err != nil {
			return err
		}
	}
	r.fleet.setLabel("measure")
	p, cpu, ok, err := r.measuredPhase(ctx, func() error { return r.churn(ctx, r.o.Rate, r.o.Duration, 0.5) })
	if err != nil {
		return err
	}
	if err := r.settleAndCheck(ctx); err != nil {
		return err
	}
	r.latencyRows(&p, true)
	r.rateRows(&p, cpu, ok, false)
	r.rssRow(rss0, rss1, n, false)
	r.correctness(true)
	return nil
}

// throughput: raise the churn rate step by step until p99 passes the limit.
func (r *runner) throughput(ctx context.Context) error {
	if _, err := r.populate(ctx, 0.5, 3000); err != nil {
		return err
	}
	var best *Step
	for rate := r.o.Rate; rate <= r.o.MaxRate; rate *= r.o.StepFactor {
		r.fleet.setLabel(siCount(rate) + " ev/s")
		p, cpu, ok, err := r.measuredPhase(ctx, func() error { return r.churn(ctx, rate, r.o.StepDur, 0.5) })
		if err != nil {
			return err
		}
		s := Step{
			Rate:         rate,
			NotifsPerSec: float64(p.Delta.Notifs) / p.Dur.Seconds(),
			Online:       p.Online.Summary(),
			Offline:      p.Offline.Summary(),
			LagP99:       p.Lag.Quantile(0.99),
			Skipped:      p.Delta.Skipped,
		}
		if ok {
			s.ServerCores = cpu.Seconds() / p.Dur.Seconds()
		}
		s.ToolCores = p.ToolCPU.Seconds() / p.Dur.Seconds()
		r.res.Steps = append(r.res.Steps, s)
		p99 := max(s.Online.P99, s.Offline.P99)
		if p99 > r.o.P99Limit {
			fmt.Fprintf(r.o.Progress, "p99 %v passed %v at %s events/s\n", fmtDur(p99), r.o.P99Limit, siCount(rate))
			break
		}
		if time.Duration(s.LagP99) > r.o.P99Limit {
			r.res.note("stopped at %s events/s: the tool fell %v behind its schedule (machine saturated)", siCount(rate), fmtDur(time.Duration(s.LagP99)))
			break
		}
		if s.Skipped > int64(float64(p.Delta.Scheduled)*0.05) {
			r.res.note("stopped at %s events/s: %d events found no user rested long enough (add --users)", siCount(rate), s.Skipped)
			break
		}
		if best == nil || s.NotifsPerSec > best.NotifsPerSec {
			b := s
			best = &b
		}
	}
	if err := r.settleAndCheck(ctx); err != nil {
		return err
	}
	fl := r.res.Ceilings
	if best == nil && len(r.res.Steps) > 0 {
		// Even the first step passed the limit: report it, marked as such.
		s := r.res.Steps[0]
		r.res.note("p99 passed %v already at the first step (%s events/s): start lower with --rate", r.o.P99Limit, siCount(s.Rate))
		r.res.row(fmt.Sprintf("notifications/s at the first step (p99 %s)", fmtDur(max(s.Online.P99, s.Offline.P99))), siCount(s.NotifsPerSec), "", "", "≥ 300k", boolp(false))
	} else if best != nil {
		ceil, rat := "", ""
		if fl != nil && fl.NATSPubSub > 0 {
			ceil, rat = siCount(fl.NATSPubSub)+" (nats pub/sub)", ratio(best.NotifsPerSec, fl.NATSPubSub)
		}
		r.res.NotifsPerSec = best.NotifsPerSec
		r.res.row("notifications/s with p99 ≤ "+fmtDur(r.o.P99Limit), siCount(best.NotifsPerSec), ceil, rat, "≥ 300k", boolp(best.NotifsPerSec >= 300000))
		r.res.row("  at churn events/s", siCount(best.Rate), "", "", "", nil)
		r.res.row("  online p50 / p99 there", fmtDur(best.Online.P50)+" / "+fmtDur(best.Online.P99), "", "", "", nil)
		if best.ServerCores > 0 && best.NotifsPerSec > 0 {
			r.res.row("  server CPU per notification there", fmtDur(time.Duration(best.ServerCores*1e9/best.NotifsPerSec)), "", "", "", nil)
		}
	}
	r.correctness(true)
	return nil
}

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
	// The floor of a fan-out to w watchers: one round trip, then w messages
	// at the rate NATS moves them between one pair of connections.
	ceil, fl := "", time.Duration(0)
	if c := r.res.Ceilings; c != nil && c.NATSPubSub > 0 && r.floor() > 0 {
		fl = r.floor() + time.Duration(float64(watchers)/c.NATSPubSub*float64(time.Second))
		ceil = fmtDur(fl) + fmt.Sprintf(" (rtt + %d msgs at nats rate)", watchers)
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

// idle: as many connections as the gateway can hold, 10 friends each; the
// server's memory per connection.
func (r *runner) idle(ctx context.Context) error {
	rss0, _, ok := r.sample()
	n, err := r.populate(ctx, 1, 3000)
	if err != nil {
		r.res.note("populate: %v", err)
	}
	r.fleet.setLabel("idle")
	time.Sleep(r.o.Settle)
	rss1, _, ok1 := r.sample()
	if err := r.settleAndCheck(ctx); err != nil {
		return err
	}
	r.res.row("connections held", fmt.Sprint(n), "", "", fmt.Sprint(r.o.Conns), boolp(n >= r.o.Conns))
	if ok && ok1 {
		r.rssRow(rss0, rss1, n, true)
	} else {
		r.res.note("no server process to measure: give --pid or run the server on this machine")
	}
	r.correctness(false)
	c := r.res.Counters
	if c.Lost+c.Dup+c.Spurious+c.WrongFinal > 0 {
		r.res.fail("notifications: %d lost, %d duplicated, %d spurious, %d wrong final", c.Lost, c.Dup, c.Spurious, c.WrongFinal)
	}
	return nil
}

// storm: a gateway holding every session is killed; once it listens again
// every client reconnects at the same instant. The tool restarts it itself
// (--server-cmd) or, with --pid, kills that process and waits for whoever
// supervises it to bring it back.
func (r *runner) storm(ctx context.Context) error {
	if r.srv == nil && len(r.pids) == 0 {
		return errors.New("storm needs a gateway it may kill: --server-cmd to let the tool restart it, or --pid with a supervisor that restarts it")
	}
	n, err := r.populate(ctx, 1, 3000)
	if err != nil {
		return err
	}
	if _, err := r.fleet.all(ctx, Command{Op: OpStormArm}); err != nil {
		return err
	}
	time.Sleep(time.Second)
	res := &StormResult{Sessions: n, Supervised: r.srv == nil}
	r.res.Storm = res
	r.fleet.setLabel("storm")
	_ = r.fleet.poll(ctx)
	before := r.fleet.sum()
	killAt := r.fleet.clock.Now()
	if r.srv != nil {
		r.srv.kill()
		// The group is dead once sh is; its children may still be closing
		// their sockets. Start the new one once the old has let go.
		if err := waitRefused(ctx, r.o.Addrs[0], 10*time.Second); err != nil {
			return err
		}
		s, err := startServer(ctx, r.o.ServerCmd, r.o.Addrs[0], r.o.RestartWait)
		if err != nil {
			return err
		}
		r.srv = s
	} else {
		if err := syscall.Kill(r.pids[0], syscall.SIGKILL); err != nil {
			return fmt.Errorf("bench: kill gateway %d: %w", r.pids[0], err)
		}
		if err := waitListening(ctx, r.o.Addrs[0], r.o.RestartWait, nil); err != nil {
			return fmt.Errorf("bench: supervised gateway did not come back: %w", err)
		}
	}
	res.Restart = time.Duration(r.fleet.clock.Now() - killAt)
	r.pids, r.res.Pids = nil, nil
	r.findPids()
	// Every client must have seen its socket die before the stampede.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_ = r.fleet.poll(ctx)
		if st := r.fleet.storm(); st.Down >= int64(n) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	reconnectAt := r.fleet.clock.Now()
	got, rerr := r.fleet.all(ctx, Command{Op: OpReconnect, Wait: 60 * time.Second})
	_ = r.fleet.poll(ctx)
	st := r.fleet.storm()
	res.Down, res.Recovered = st.Down, st.Recovered
	res.DownAfter = time.Duration(st.FirstDown - killAt)
	if st.LastReady > 0 {
		res.Absorb = time.Duration(st.LastReady - reconnectAt)
		res.Total = time.Duration(st.LastReady - killAt)
	}
	if err := r.settleAndCheck(ctx); err != nil {
		return err
	}
	after := r.fleet.sum()
	res.WrongFinal = after.WrongFinal - before.WrongFinal
	res.LostDuring, res.DupDuring, res.SpurDuring = after.Lost-before.Lost, after.Dup-before.Dup, after.Spurious-before.Spurious
	r.res.Counters = after
	r.res.row("sessions before the kill", fmt.Sprint(n), "", "", "", nil)
	r.res.row("sessions cut / back", fmt.Sprintf("%d / %d (%d now ready)", res.Down, res.Recovered, got), "", "", "all", boolp(res.Recovered >= res.Down && res.Down > 0))
	r.res.row("kill → gateway listening again", fmtDur(res.Restart), "", "", "", nil)
	r.res.row("reconnect at once → last session ready", fmtDur(res.Absorb), "", "", "≤ 3s", le(res.Absorb, 3*time.Second))
	r.res.row("kill → last session ready", fmtDur(res.Total), "", "", "", nil)
	r.res.row("friend states wrong after settling", fmt.Sprint(res.WrongFinal), "", "", "0", boolp(res.WrongFinal == 0))
	r.res.row("lost / dup / spurious across the fault (no promise)", fmt.Sprintf("%d / %d / %d", res.LostDuring, res.DupDuring, res.SpurDuring), "", "", "", nil)
	if rerr != nil {
		r.res.fail("reconnect: %v", rerr)
	}
	if res.Recovered < res.Down || res.Down == 0 {
		r.res.fail("%d of %d cut sessions came back", res.Recovered, res.Down)
	}
	if res.WrongFinal > 0 {
		r.res.fail("%d friend states did not converge after %v", res.WrongFinal, r.o.Settle)
	}
	// Faults excuse lost and repeated messages, never one about a user the
	// watcher does not list.
	if n := after.Strangers - before.Strangers; n > 0 {
		r.res.fail("%d messages about users the watcher does not list", n)
	}
	return nil
}
