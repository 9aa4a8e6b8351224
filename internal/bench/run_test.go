package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func smokeOptions(addr string) Options {
	return Options{
		Scenario: "smoke",
		Addrs:    []string{addr},
		Pids:     []int{os.Getpid()},
		Users:    300,
		Rate:     200,
		Duration: 1500 * time.Millisecond,
		Deadline: time.Second,
	}
}

func TestRunSmokeInProcess(t *testing.T) {
	f := startFake(t)
	res, err := Run(context.Background(), smokeOptions(f.addr()))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := res.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !res.Pass {
		t.Fatalf("smoke failed against a correct server:\n%s", out.String())
	}
	t.Log(out.String())
	if !strings.Contains(out.String(), "connect→notified online p50") || res.NotifsPerSec <= 0 {
		t.Fatalf("table lacks figures:\n%s", out.String())
	}
}

func TestRunSmokeWorkerProcesses(t *testing.T) {
	f := startFake(t)
	o := smokeOptions(f.addr())
	o.Workers = 3
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_ = res.WriteTable(&out)
	if !res.Pass || res.Workers != 3 {
		t.Fatalf("smoke over 3 worker processes failed:\n%s", out.String())
	}
	// Watchers and the users they watch live in different processes, so a
	// clean check proves the shared history works.
	if res.Counters.Checked == 0 || res.Counters.Notifs == 0 {
		t.Fatalf("nothing checked: %+v", res.Counters)
	}
}

func TestRunSmokeFailsOnDrops(t *testing.T) {
	f := startFake(t)
	f.dropEvery = 30
	res, err := Run(context.Background(), smokeOptions(f.addr()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Pass || res.Counters.Lost == 0 {
		t.Fatalf("smoke passed a server that drops notifications: %+v", res.Counters)
	}
}

// fakeCmd is a --server-cmd that runs the fake server in a process of its
// own: the test binary, re-executed.
func fakeCmd(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fakeEnv + "={addr} exec " + exe
}

func TestRunStormRestartsServer(t *testing.T) {
	res, err := Run(context.Background(), Options{
		Scenario:  "storm",
		ServerCmd: fakeCmd(t),
		Conns:     600,
		Workers:   2,
		Settle:    500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_ = res.WriteTable(&out)
	st := res.Storm
	if !res.Pass || st == nil || st.Down != 600 || st.Recovered != 600 || st.Total <= 0 {
		t.Fatalf("storm against a restartable fake:\n%s", out.String())
	}
	if len(res.Pids) != 1 {
		t.Fatalf("restarted server not found for measuring: pids %v", res.Pids)
	}
}

func TestRunHotUser(t *testing.T) {
	f := startFake(t)
	res, err := Run(context.Background(), Options{
		Scenario: "hotuser",
		Addrs:    []string{f.addr()},
		Watchers: 300,
		Cycles:   2,
		Ceilings: "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_ = res.WriteTable(&out)
	if !res.Pass || len(res.Hot) != 4 {
		t.Fatalf("hotuser against the fake:\n%s", out.String())
	}
	for _, h := range res.Hot {
		if h.Notified != 300 || h.LastAfter <= 0 {
			t.Fatalf("cycle %+v: not every watcher heard\n%s", h, out.String())
		}
	}
}
