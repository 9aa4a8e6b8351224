package bench

import (
	"context"
	"fmt"
	"time"
)

// measureCeilings runs the machine's own figures before ALO is loaded, so
// they do not compete with it for the two cores.
func (r *runner) measureCeilings(ctx context.Context) {
	c := &Ceilings{}
	r.res.Ceilings = c
	var err error
	if r.o.Scenario == "storm" {
		// The one ceiling that speaks to a storm: the same stampede against
		// a server that does nothing. The tool's own file limit caps it.
		c.StormConns = min(r.o.Conns, 19000)
		fmt.Fprintf(r.o.Progress, "ceiling: %d clients dial a bare server at once\n", c.StormConns)
		if c.StormFloor, err = BareStorm(ctx, c.StormConns, max(4, r.o.Sources), 32+14*r.o.Friends); err != nil {
			r.res.note("storm ceiling: %v", err)
		}
		return
	}
	fmt.Fprintln(r.o.Progress, "ceilings: tcp round trip, nats request/reply, nats pub/sub, bare server memory")
	if c.TCPRoundTrip, err = TCPRoundTrip(20000); err != nil {
		r.res.note("tcp ceiling: %v", err)
	}
	if c.NATSRequest, err = NATSRoundTrip(10000); err != nil {
		r.res.note("nats request ceiling: %v", err)
	}
	if c.NATSPubSub, err = NATSPubSub(2_000_000); err != nil {
		r.res.note("nats pub/sub ceiling: %v", err)
	}
	if r.o.Scenario == "hotuser" {
		c.FanOutConns = r.o.Watchers
		if c.FanOut, err = FanOut(r.o.Watchers, 5); err != nil {
			r.res.note("fan-out ceiling: %v", err)
		}
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

// le is v ≤ limit, as a table row's verdict.
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
	r.res.row("late (> deadline after the cause)", fmt.Sprint(c.Late), "", "", "", nil)
	if c.Late > 0 {
		r.res.note("%d notifications came later than the deadline (%v): under such delays, lost counts what was owed but had not arrived when the watcher left; a larger --deadline or a lower --rate tells slow from lost", c.Late, r.o.Deadline)
	}
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
