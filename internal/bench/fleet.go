package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// fleet is the coordinator's view of its workers: it sends them commands,
// collects their stats, and keeps the run's totals.
type fleet struct {
	hs       []workerHandle
	hist     *History // the coordinator's mapping (or the lone local worker's table)
	histPath string
	clock    Clock
	count    int

	mu     sync.Mutex
	last   map[int]Stats // latest from each worker (counters are cumulative)
	total  hists         // since the run began
	phase  hists         // since startPhase
	window hists         // since the last progress line
	base   Stats         // summed counters at startPhase
	baseAt int64

	progress io.Writer
	prevSum  Stats
	prevAt   int64
	label    string
}

// hists are the latency histograms a fleet adds up.
type hists struct{ on, off, ready, lag Histogram }

func (h *hists) reset() { h.on.Reset(); h.off.Reset(); h.ready.Reset(); h.lag.Reset() }

func (h *hists) merge(s *Stats) error {
	return errors.Join(h.on.MergeData(s.LatOnline), h.off.MergeData(s.LatOffline),
		h.ready.MergeData(s.LatReady), h.lag.MergeData(s.Lag))
}

// fleetSpec is what startFleet needs beyond the worker config template.
type fleetSpec struct {
	workers  int  // number of workers
	procs    bool // workers in child processes
	template WorkerConfig
}

// startFleet creates the history table and the workers.
func startFleet(spec fleetSpec, progress io.Writer) (*fleet, error) {
	epoch := time.Now().UnixNano()
	f := &fleet{clock: NewClock(epoch), count: spec.workers, last: map[int]Stats{}, progress: progress}
	cfg := spec.template
	cfg.Count = spec.workers
	cfg.EpochWall = epoch
	if spec.procs {
		dir := "/dev/shm"
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			dir = os.TempDir()
		}
		f.histPath = filepath.Join(dir, fmt.Sprintf("alo-bench-%d-%d", os.Getpid(), epoch))
		h, err := CreateHistory(f.histPath, cfg.Graph.Users, cfg.HistorySlots)
		if err != nil {
			return nil, err
		}
		f.hist = h
		cfg.HistoryPath = f.histPath
	}
	for i := range spec.workers {
		c := cfg
		c.Index = i
		var h workerHandle
		var err error
		if spec.procs {
			h, err = startProcWorker(c)
		} else {
			var lw *localWorker
			lw, err = newLocalWorker(c)
			if err == nil {
				f.hist = lw.w.hist
				h = lw
			}
		}
		if err != nil {
			f.close()
			return nil, err
		}
		f.hs = append(f.hs, h)
	}
	return f, nil
}

// close ends every worker and removes the history file.
func (f *fleet) close() {
	var wg sync.WaitGroup
	for _, h := range f.hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = h.close()
		}()
	}
	wg.Wait()
	f.hs = nil
	if f.histPath != "" {
		_ = f.hist.Close()
		_ = os.Remove(f.histPath)
	}
}

// pids returns the processes of the tool: this one and every worker's.
func (f *fleet) pids() []int {
	ps := []int{os.Getpid()}
	for _, h := range f.hs {
		if p, ok := h.(*procWorker); ok {
			ps = append(ps, p.cmd.Process.Pid)
		}
	}
	return ps
}

// owner returns the worker that drives user u.
func (f *fleet) owner(u int) workerHandle { return f.hs[u%f.count] }

// all sends c to every worker at once and waits for them all; it returns
// the sum of their N and every error.
func (f *fleet) all(ctx context.Context, c Command) (int, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	n := 0
	for i, h := range f.hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := h.call(ctx, c)
			mu.Lock()
			defer mu.Unlock()
			n += r.N
			if err == nil && r.Err != "" {
				err = errors.New(r.Err)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("worker %d: %s: %w", i, c.Op, err))
			}
		}()
	}
	wg.Wait()
	return n, errors.Join(errs...)
}

// one sends c to the owner of c.User.
func (f *fleet) one(ctx context.Context, c Command) error {
	r, err := f.owner(c.User).call(ctx, c)
	if err == nil && r.Err != "" {
		err = errors.New(r.Err)
	}
	return err
}

// poll collects every worker's stats and folds them in.
func (f *fleet) poll(ctx context.Context) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, h := range f.hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := h.call(ctx, Command{Op: OpStats})
			mu.Lock()
			defer mu.Unlock()
			if err != nil || r.Stats == nil {
				errs = append(errs, fmt.Errorf("bench: stats: %w", err))
				return
			}
			f.fold(r.Stats)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (f *fleet) fold(s *Stats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.total.merge(s)
	_ = f.phase.merge(s)
	_ = f.window.merge(s)
	f.last[s.Worker] = *s
}

// sum returns the counters summed over workers.
func (f *fleet) sum() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t Stats
	for _, s := range f.last {
		t.add(&s)
	}
	t.At = f.clock.Now()
	return t
}

// startPhase marks the beginning of a measured stretch.
func (f *fleet) startPhase(ctx context.Context) error {
	err := f.poll(ctx)
	f.mu.Lock()
	f.phase.reset()
	f.mu.Unlock()
	f.base = f.sum()
	f.baseAt = f.clock.Now()
	return err
}

// Phase is what happened between startPhase and endPhase.
type Phase struct {
	Dur     time.Duration
	Delta   Stats // counter differences
	Online  Histogram
	Offline Histogram
	Ready   Histogram
	Lag     Histogram
	ToolCPU time.Duration // CPU the tool's processes used meanwhile
}

// endPhase returns the stretch since startPhase.
func (f *fleet) endPhase(ctx context.Context) (Phase, error) {
	err := f.poll(ctx)
	now := f.sum()
	p := Phase{Dur: time.Duration(f.clock.Now() - f.baseAt), Delta: now.sub(&f.base)}
	f.mu.Lock()
	p.Online.Merge(&f.phase.on)
	p.Offline.Merge(&f.phase.off)
	p.Ready.Merge(&f.phase.ready)
	p.Lag.Merge(&f.phase.lag)
	f.mu.Unlock()
	return p, err
}

// watch polls every second until ctx ends, printing a progress line.
func (f *fleet) watch(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := f.poll(ctx); err != nil && ctx.Err() == nil {
				fmt.Fprintf(f.progress, "progress: %v\n", err)
			}
			f.printProgress()
		}
	}
}

// setLabel names the current step in progress lines.
func (f *fleet) setLabel(s string) {
	f.mu.Lock()
	f.label = s
	f.mu.Unlock()
}

func (f *fleet) printProgress() {
	if f.progress == nil {
		return
	}
	s := f.sum()
	f.mu.Lock()
	on, off := f.window.on.Summary(), f.window.off.Summary()
	lag := f.window.lag.Quantile(0.99)
	f.window.reset()
	label := f.label
	f.mu.Unlock()
	dt := float64(s.At-f.prevAt) / 1e9
	rate := 0.0
	if dt > 0 {
		rate = float64(s.Notifs-f.prevSum.Notifs) / dt
	}
	f.prevSum, f.prevAt = s, s.At
	fmt.Fprintf(f.progress, "%6.1fs %-12s online %6d  notif/s %8s  on p50 %8s p99 %8s  off p99 %8s  lag p99 %8s  lost %d dup %d spur %d errs %d\n",
		float64(s.At)/1e9, label, s.Online, siCount(rate), fmtDur(on.P50), fmtDur(on.P99), fmtDur(off.P99),
		fmtDur(time.Duration(lag)), s.Lost, s.Dup, s.Spurious, s.DialFails+s.ServerCloses+s.ErrorMsgs+s.BadLines)
}

// hotTransition returns how watchers saw transition k of the hot user:
// messages received and when the last arrived (summed over workers).
func (f *fleet) hotTransition(k int) (n int64, last int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.last {
		for _, h := range s.Hot {
			if h.K == k {
				n += h.N
				last = max(last, h.LastAt)
			}
		}
	}
	return n, last
}

// storm sums the workers' storm figures.
func (f *fleet) storm() StormStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t StormStats
	for _, s := range f.last {
		if s.Storm == nil {
			continue
		}
		t.Down += s.Storm.Down
		t.Recovered += s.Storm.Recovered
		t.Pending += s.Storm.Pending
		t.LastReady = max(t.LastReady, s.Storm.LastReady)
		if s.Storm.FirstDown != 0 && (t.FirstDown == 0 || s.Storm.FirstDown < t.FirstDown) {
			t.FirstDown = s.Storm.FirstDown
		}
	}
	return t
}
