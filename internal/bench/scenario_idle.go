package bench

import (
	"context"
	"fmt"
	"time"
)

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
