package bench

import (
	"context"
	"testing"
	"time"
)

func testWorkerConfig(addr string, users, k int) WorkerConfig {
	return WorkerConfig{
		Count:        1,
		Graph:        GraphSpec{Kind: GraphUniform, Users: users, K: k, Seed: 1},
		UserBase:     1000,
		Addrs:        []string{addr},
		Sources:      2,
		HistorySlots: 64,
		EpochWall:    time.Now().UnixNano(),
		// Generous: under -race a stall of half a second is ordinary, and a
		// notification later than the deadline would rightly count as lost.
		Deadline: time.Second,
		Cooldown: 1100 * time.Millisecond,
		Close:    CloseMix,
		Seed:     9,
		HotUser:  -1,
	}
}

// runChurn populates, churns, settles and checks, returning the stats.
func runChurn(t *testing.T, f *fakeServer, users, k int, rate float64, dur time.Duration) Stats {
	t.Helper()
	w, err := NewWorker(testWorkerConfig(f.addr(), users, k))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)
	defer w.closeAll()
	do := func(c Command) Reply {
		r := w.Do(ctx, c)
		if r.Err != "" {
			t.Fatalf("%s: %s", c.Op, r.Err)
		}
		return r
	}
	do(Command{Op: OpPopulate, Frac: 0.5, Rate: 2000})
	do(Command{Op: OpChurn, Rate: rate, Dur: dur, Frac: 0.5})
	time.Sleep(w.cfg.Deadline + 150*time.Millisecond)
	do(Command{Op: OpFinalCheck})
	return *do(Command{Op: OpStats}).Stats
}

func TestWorkerAgainstCorrectServer(t *testing.T) {
	f := startFake(t)
	st := runChurn(t, f, 400, 10, 250, 2*time.Second)
	if st.Notifs < 500 || st.Sessions < 300 {
		t.Fatalf("too little happened: %d notifications, %d sessions checked", st.Notifs, st.Sessions)
	}
	if st.Lost != 0 || st.Dup != 0 || st.Spurious != 0 || st.WrongFinal != 0 || st.BadLines != 0 {
		t.Fatalf("a correct server flagged: lost %d dup %d spurious %d wrong %d bad %d", st.Lost, st.Dup, st.Spurious, st.WrongFinal, st.BadLines)
	}
	var on Histogram
	if err := on.MergeData(st.LatOnline); err != nil || on.Count() == 0 {
		t.Fatalf("no online latencies: %v", err)
	}
}

func TestWorkerSeesDrops(t *testing.T) {
	f := startFake(t)
	f.dropEvery = 50
	st := runChurn(t, f, 300, 10, 250, time.Second)
	if st.Lost == 0 {
		t.Fatalf("dropped notifications not seen: %+v", st)
	}
	if st.Dup != 0 {
		t.Fatalf("drops reported as duplicates: %d", st.Dup)
	}
}

func TestWorkerSeesDuplicates(t *testing.T) {
	f := startFake(t)
	f.dupEvery = 40
	st := runChurn(t, f, 300, 10, 250, time.Second)
	if st.Dup == 0 {
		t.Fatalf("duplicated notifications not seen: %+v", st)
	}
	if st.Lost != 0 {
		t.Fatalf("duplicates reported as lost: %d", st.Lost)
	}
}
