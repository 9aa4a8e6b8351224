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
		Users:    200,
		Rate:     300,
		Duration: 1500 * time.Millisecond,
		Deadline: 300 * time.Millisecond,
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
