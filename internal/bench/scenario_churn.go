package bench

import (
	"context"
	"fmt"
	"time"
)

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
