package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// runner carries one run: options, the server under test, the workers, the
// result being filled in.
type runner struct {
	o      Options
	srv    *serverProc
	pids   []int
	fleet  *fleet
	res    *Result
	cancel context.CancelFunc // stops the progress watcher
}

// Run carries out one scenario and returns its result. The result's Pass
// says whether the scenario's assertions held (smoke: zero lost and zero
// duplicated; the others: that the run was sound). An error means the run
// itself could not be carried out.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.ServerCmd != "" && len(o.Addrs) == 0 {
		a, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		o.Addrs = []string{a}
	}
	if err := o.scenarioDefaults(); err != nil {
		return nil, err
	}
	for i, a := range o.Addrs {
		la, err := loopbackAddr(a)
		if err != nil {
			return nil, err
		}
		o.Addrs[i] = la
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	r := &runner{o: o, res: newResult(o)}
	defer r.shutdown()
	if o.ServerCmd != "" {
		if len(o.Addrs) != 1 {
			return nil, errors.New("bench: --server-cmd starts one gateway: give at most one --addr")
		}
		fmt.Fprintf(o.Progress, "starting server: %s\n", expandServerCmd(o.ServerCmd, o.Addrs[0]))
		s, err := startServer(ctx, o.ServerCmd, o.Addrs[0], 120*time.Second)
		if err != nil {
			return nil, err
		}
		r.srv = s
	}
	for _, a := range o.Addrs {
		if err := waitListening(ctx, a, 2*time.Second, nil); err != nil {
			return nil, fmt.Errorf("bench: no ALO at %s (start one, or give --server-cmd): %w", a, err)
		}
	}
	r.findPids()
	if o.Ceilings == "on" {
		r.measureCeilings(ctx)
	}
	if err := r.startFleet(); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	go r.fleet.watch(wctx)
	var err error
	switch o.Scenario {
	case "smoke":
		err = r.smoke(ctx)
	case "latency":
		err = r.latency(ctx)
	case "throughput":
		err = r.throughput(ctx)
	case "hotuser":
		err = r.hotuser(ctx)
	case "idle":
		err = r.idle(ctx)
	case "storm":
		err = r.storm(ctx)
	}
	if err != nil {
		r.res.Errors = append(r.res.Errors, err.Error())
		// Say what happened up to the stop, even when ctx is what stopped it.
		pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.fleet.poll(pctx)
		cancel()
		r.res.Counters = r.fleet.sum()
	}
	r.res.finish()
	return r.res, nil
}

func (r *runner) shutdown() {
	if r.cancel != nil {
		r.cancel()
	}
	if r.fleet != nil {
		r.fleet.close()
	}
	if r.srv != nil {
		r.srv.stop(10 * time.Second)
	}
}

// findPids decides which processes to measure: the ones given, else the
// one listening on each gateway address.
func (r *runner) findPids() {
	if len(r.o.Pids) > 0 {
		r.pids = r.o.Pids
		return
	}
	for _, a := range r.o.Addrs {
		port, err := portOf(a)
		if err != nil {
			continue
		}
		pid, err := FindListener(port)
		if err != nil {
			r.res.note("no process to measure for %s: %v", a, err)
			continue
		}
		r.pids = append(r.pids, pid)
	}
	r.res.Pids = r.pids
}

// sample reads every measured process and sums them.
func (r *runner) sample() (rss int64, cpu time.Duration, ok bool) {
	ok = len(r.pids) > 0
	for _, pid := range r.pids {
		s, err := SampleProc(pid)
		if err != nil {
			ok = false
			continue
		}
		rss += s.RSS
		cpu += s.CPU
	}
	return rss, cpu, ok
}

// startFleet sizes and starts the workers for the scenario's sockets.
func (r *runner) startFleet() error {
	o := r.o
	// Churn keeps about half the users online; the others bring everyone.
	peak := o.Users
	switch o.Scenario {
	case "smoke", "latency", "throughput":
		peak = o.Users * 6 / 10
	}
	workers := o.Workers
	if workers == 0 {
		workers = max(1, (peak+o.PerWorker-1)/o.PerWorker)
	}
	sources := o.Sources
	if sources == 0 {
		sources = max(4, (peak+19999)/20000)
	}
	slots := r.slots()
	hot := -1
	if o.Scenario == "hotuser" {
		hot = 0
	}
	tmpl := WorkerConfig{
		Graph:        GraphSpec{Kind: o.Graph, Users: o.Users, K: o.Friends, ZipfS: o.ZipfS, Seed: o.Seed},
		UserBase:     o.UserBase,
		Addrs:        o.Addrs,
		Sources:      sources,
		HistorySlots: slots,
		Deadline:     o.Deadline,
		Cooldown:     o.Cooldown,
		Close:        o.Close,
		Seed:         o.Seed,
		HotUser:      hot,
	}
	if o.Scenario == "hotuser" {
		tmpl.Graph.HotW = o.Watchers
	}
	if err := tmpl.Graph.Validate(); err != nil {
		return err
	}
	f, err := startFleet(fleetSpec{workers: workers, procs: workers > 1, template: tmpl}, r.o.Progress)
	if err != nil {
		return err
	}
	r.fleet = f
	r.res.Workers = workers
	r.res.Sources = sources
	g, _ := tmpl.Graph.Build()
	r.res.WatchersMin, r.res.WatchersMed, r.res.WatchersMax = g.DegreeStats()
	return nil
}

// slots bounds the transitions one user can have in the run: a session and
// its rest take at least the cooldown, so the run's length over it, twice.
func (r *runner) slots() int {
	o := r.o
	total := o.Warmup + o.Duration + 30*time.Second
	switch o.Scenario {
	case "throughput":
		steps := int(math.Ceil(math.Log(o.MaxRate/o.Rate)/math.Log(o.StepFactor))) + 1
		total += time.Duration(steps) * o.StepDur
	case "hotuser":
		return 4*o.Cycles + 8
	case "idle":
		return 8
	case "storm":
		return 16
	}
	return min(1024, 2*int(total/o.Cooldown)+8)
}

// populate brings frac of the users online and records how long it took.
func (r *runner) populate(ctx context.Context, frac, rate float64) (int, error) {
	r.fleet.setLabel("populate")
	t := time.Now()
	n, err := r.fleet.all(ctx, Command{Op: OpPopulate, Frac: frac, Rate: rate / float64(r.fleet.count), Wait: 60 * time.Second})
	fmt.Fprintf(r.o.Progress, "populated: %d sessions ready in %v\n", n, time.Since(t).Round(time.Millisecond))
	return n, err
}

// churn runs open-loop churn at rate (split over workers) for dur.
func (r *runner) churn(ctx context.Context, rate float64, dur time.Duration, frac float64) error {
	_, err := r.fleet.all(ctx, Command{Op: OpChurn, Rate: rate / float64(r.fleet.count), Dur: dur, Frac: frac})
	return err
}

// settleAndCheck waits until nothing can be in flight and checks every
// session still open.
func (r *runner) settleAndCheck(ctx context.Context) error {
	r.fleet.setLabel("settle")
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.o.Settle):
	}
	_, err := r.fleet.all(ctx, Command{Op: OpFinalCheck})
	if perr := r.fleet.poll(ctx); err == nil {
		err = perr
	}
	return err
}

// toolCPU returns the CPU time the tool's own processes have used: the
// figure that says whether the tool, on the same cores, held the server back.
func (r *runner) toolCPU() time.Duration {
	var t time.Duration
	for _, pid := range r.fleet.pids() {
		if s, err := SampleProc(pid); err == nil {
			t += s.CPU
		}
	}
	return t
}

// measuredPhase runs fn between startPhase and endPhase, sampling the
// server's CPU (and the tool's) around it.
func (r *runner) measuredPhase(ctx context.Context, fn func() error) (Phase, time.Duration, bool, error) {
	if err := r.fleet.startPhase(ctx); err != nil {
		return Phase{}, 0, false, err
	}
	_, cpu0, ok0 := r.sample()
	t0 := r.toolCPU()
	err := fn()
	_, cpu1, ok1 := r.sample()
	t1 := r.toolCPU()
	p, perr := r.fleet.endPhase(ctx)
	p.ToolCPU = t1 - t0
	return p, cpu1 - cpu0, ok0 && ok1, errors.Join(err, perr)
}
