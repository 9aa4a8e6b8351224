package bench

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

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
	ceil, rat := "", ""
	if c := r.res.Ceilings; c != nil && c.StormFloor > 0 {
		ceil = fmtDur(c.StormFloor) + fmt.Sprintf(" (%d to a bare server)", c.StormConns)
		rat = ratio(float64(res.Absorb), float64(c.StormFloor))
	}
	r.res.row("reconnect at once → last session ready", fmtDur(res.Absorb), ceil, rat, "≤ 3s", le(res.Absorb, 3*time.Second))
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
