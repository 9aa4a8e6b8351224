package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Op names a command the coordinator gives a worker.
type Op string

// The worker commands.
const (
	OpStats      Op = "stats"      // report Stats
	OpPopulate   Op = "populate"   // bring Frac of the users online at Rate connects/s, wait for them
	OpChurn      Op = "churn"      // open-loop churn at Rate events/s for Dur, around Frac online
	OpConnect    Op = "connect"    // bring user User online, wait for ready
	OpDisconnect Op = "disconnect" // end user User's session
	OpStormArm   Op = "storm_arm"  // from now, sessions the server cuts wait for OpReconnect
	OpReconnect  Op = "reconnect"  // reconnect every cut session at once, wait for ready
	OpFinalCheck Op = "final_check"
	OpCloseAll   Op = "close_all" // close every socket, wait for the readers
)

// Command is one order to a worker.
type Command struct {
	ID   int64         `json:"id"`
	Op   Op            `json:"op"`
	Rate float64       `json:"rate,omitempty"`
	Dur  time.Duration `json:"dur,omitempty"`
	Frac float64       `json:"frac,omitempty"`
	User int           `json:"user,omitempty"`
	Wait time.Duration `json:"wait,omitempty"` // how long to wait for sessions to come up
}

// Reply answers a Command.
type Reply struct {
	ID    int64  `json:"id"`
	Err   string `json:"err,omitempty"`
	N     int    `json:"n,omitempty"` // ops that count something say how many
	Stats *Stats `json:"stats,omitempty"`
}

// Run starts the worker's background checker; it returns when ctx ends.
func (w *Worker) Run(ctx context.Context) {
	w.checks.run(ctx)
}

// Do carries out one command. Commands may run concurrently (stats during
// churn); the coordinator does not overlap the others.
func (w *Worker) Do(ctx context.Context, c Command) Reply {
	r := Reply{ID: c.ID}
	var err error
	switch c.Op {
	case OpStats:
		st := w.Stats()
		r.Stats = &st
	case OpPopulate:
		r.N, err = w.populate(ctx, c.Frac, c.Rate, c.Wait)
	case OpChurn:
		err = w.churn(ctx, c.Rate, c.Dur, c.Frac)
	case OpConnect:
		err = w.connectUser(ctx, c.User, c.Wait)
	case OpDisconnect:
		if !w.owns(c.User) {
			err = fmt.Errorf("bench: worker %d does not own user %d", w.cfg.Index, c.User)
		} else if !w.disconnectUser(c.User) {
			err = fmt.Errorf("bench: user %d is not online", c.User)
		}
	case OpStormArm:
		w.mu.Lock()
		w.stormOn = true
		w.mu.Unlock()
	case OpReconnect:
		r.N, err = w.reconnect(ctx, c.Wait)
	case OpFinalCheck:
		w.finalCheck()
	case OpCloseAll:
		w.closeAll()
	default:
		err = fmt.Errorf("bench: unknown op %q", c.Op)
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// populate connects users, oldest-rested first, open loop at rate, until
// frac of the owned users are ready or on the way; then waits up to wait for
// the connects to finish. It returns how many are ready.
func (w *Worker) populate(ctx context.Context, frac, rate float64, wait time.Duration) (int, error) {
	target := int(frac*float64(len(w.st)) + 0.5)
	if rate <= 0 {
		rate = 1000
	}
	gap := int64(float64(time.Second) / rate)
	next := w.clock.Now()
	for {
		ready, connecting := w.onlineCount()
		if ready+connecting >= target {
			break
		}
		if err := w.sleepUntil(ctx, next); err != nil {
			return ready, err
		}
		if !w.connectNext(ctx, next) {
			// Nobody eligible: everyone left is resting or spent.
			break
		}
		next += gap
	}
	return w.waitConnecting(ctx, wait)
}

// waitConnecting waits until no session is still on its way, or wait passes.
func (w *Worker) waitConnecting(ctx context.Context, wait time.Duration) (int, error) {
	if wait <= 0 {
		wait = 30 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		ready, connecting := w.onlineCount()
		if connecting == 0 {
			return ready, nil
		}
		if time.Now().After(deadline) {
			return ready, fmt.Errorf("bench: %d sessions still not ready after %v", connecting, wait)
		}
		select {
		case <-ctx.Done():
			return ready, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// churn runs open-loop churn: events at exponential gaps (a Poisson process
// of the given rate) for dur, each a connect when fewer than frac of the
// users are online and a disconnect otherwise. Events are never held back by
// the server's answers: a slow server gets more concurrent sessions, not
// fewer events, and the lag figure shows when the tool itself fell behind.
func (w *Worker) churn(ctx context.Context, rate float64, dur time.Duration, frac float64) error {
	if rate <= 0 || dur <= 0 {
		return errors.New("bench: churn needs a rate and a duration")
	}
	w.mu.Lock()
	r := rand.New(rand.NewPCG(w.rng.Uint64(), w.rng.Uint64()))
	w.mu.Unlock()
	target := int(frac*float64(len(w.st)) + 0.5)
	start := w.clock.Now()
	end := start + int64(dur)
	next := start
	for {
		next += int64(r.ExpFloat64() / rate * float64(time.Second))
		if next >= end {
			return w.sleepUntil(ctx, end)
		}
		if err := w.sleepUntil(ctx, next); err != nil {
			return err
		}
		w.cnt.scheduled.Add(1)
		ready, connecting := w.onlineCount()
		done := false
		if ready+connecting < target {
			done = w.connectNext(ctx, next) || w.disconnectTimed(next)
		} else {
			done = w.disconnectTimed(next) || w.connectNext(ctx, next)
		}
		if !done {
			w.cnt.skipped.Add(1)
		}
	}
}

func (w *Worker) disconnectTimed(planned int64) bool {
	w.lag.record(w.clock.Now() - planned)
	return w.disconnectRandom()
}

// sleepUntil waits for run-clock instant t. Events closer together than the
// timer's grain are run back to back, late by less than a grain.
func (w *Worker) sleepUntil(ctx context.Context, t int64) error {
	d := w.clock.Until(t)
	if d <= 50*time.Microsecond {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// connectUser brings one user online and waits for its ready.
func (w *Worker) connectUser(ctx context.Context, u int, wait time.Duration) error {
	if !w.owns(u) {
		return fmt.Errorf("bench: worker %d does not own user %d", w.cfg.Index, u)
	}
	l := w.local(u)
	w.mu.Lock()
	st := &w.st[l]
	if st.phase != phaseOffline || st.down {
		w.mu.Unlock()
		return fmt.Errorf("bench: user %d is not offline", u)
	}
	if w.hist.Count(u)+2 > w.hist.Slots() {
		w.mu.Unlock()
		return fmt.Errorf("bench: user %d has no transition slots left", u)
	}
	for i, q := range w.offq {
		if int(q) == l {
			w.offq = append(w.offq[:i], w.offq[i+1:]...)
			break
		}
	}
	st.phase = phaseConnecting
	w.connecting++
	w.mu.Unlock()
	w.startUser(ctx, u, 0)
	if wait <= 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		w.mu.Lock()
		p := w.st[l].phase
		w.mu.Unlock()
		switch p {
		case phaseOnline:
			return nil
		case phaseOffline:
			return fmt.Errorf("bench: user %d's session ended before ready", u)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: user %d not ready after %v", u, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Microsecond):
		}
	}
}

// reconnect dials every user the server cut, all at once, and waits for
// them to be ready. Users whose dial fails or whose new session is cut too
// go again in the next round, after a short backoff, as real clients would,
// until wait has passed. It returns how many are ready.
func (w *Worker) reconnect(ctx context.Context, wait time.Duration) (int, error) {
	if wait <= 0 {
		wait = 60 * time.Second
	}
	deadline := time.Now().Add(wait)
	backoff := 20 * time.Millisecond
	for {
		w.mu.Lock()
		var todo []int
		for l := range w.st {
			st := &w.st[l]
			if st.down && st.phase == phaseOffline {
				st.phase = phaseConnecting
				w.connecting++
				todo = append(todo, w.user(l))
			}
		}
		w.mu.Unlock()
		for _, u := range todo {
			w.startUser(ctx, u, 0)
		}
		ready, err := w.waitConnecting(ctx, time.Until(deadline))
		if err != nil {
			return ready, err
		}
		w.mu.Lock()
		pending := w.storm.Pending
		w.mu.Unlock()
		if pending == 0 {
			return ready, nil
		}
		if time.Now().After(deadline) {
			return ready, fmt.Errorf("bench: %d sessions not back after %v", pending, wait)
		}
		select {
		case <-ctx.Done():
			return ready, ctx.Err()
		case <-time.After(backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)))):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// closeAll closes every socket without logging out, as a killed client
// would, and waits for the readers to finish.
func (w *Worker) closeAll() {
	w.mu.Lock()
	w.stormOn = false
	w.closed = true
	var conns []*session
	for i := range w.st {
		if s := w.st[i].s; s != nil {
			s.mu.Lock()
			if s.endAt == 0 {
				s.endAt = w.clock.Now()
			}
			s.closing = true
			s.checked = true // closing everything is not churn: nothing to check
			s.mu.Unlock()
			conns = append(conns, s)
		}
	}
	w.mu.Unlock()
	for _, s := range conns {
		_ = s.conn.Close()
	}
	w.wg.Wait()
}
