package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"--json"},
		{"bogus"},
		{"smoke", "--pid", "x"},
		{"smoke", "--addr", "10.1.2.3:80"},
		{"smoke", "extra"},
		{"smoke", "--no-such-flag"},
		{"smoke", "--users", "0"},
		{"smoke", "--rate", "-5"},
		{"smoke", "--warmup", "0s"},
		{"smoke", "--seed", "0"},
	} {
		if code := run(context.Background(), args); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code := run(context.Background(), []string{"smoke", "-h"}); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
}

// TestSmokeAgainstRealALO builds alo and alo-bench and runs the smoke
// scenario the way CI does: the tool starts the server, loads it, checks
// every notification and exits 0 only if none was lost or duplicated.
func TestSmokeAgainstRealALO(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries and loads a server")
	}
	dir := t.TempDir()
	for _, b := range []string{"alo", "alo-bench"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, b), "../"+b).CombinedOutput()
		if err != nil {
			t.Fatalf("build %s: %v\n%s", b, err, out)
		}
	}
	cmd := exec.Command(filepath.Join(dir, "alo-bench"), "smoke", "--json", "--quiet",
		"--server-cmd", filepath.Join(dir, "alo")+" --tcp {addr} --http '' --udp '' --log-level warn --max-conns-per-ip 0 --conn-rate-per-ip 0")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var res struct {
		Pass     bool     `json:"pass"`
		Failures []string `json:"failures"`
		Counters struct {
			Notifs, Lost, Dup int64
		} `json:"counters"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("smoke output is not JSON (%v; exit %v):\n%s", jerr, err, out)
	}
	if err != nil || !res.Pass || res.Counters.Notifs == 0 {
		t.Fatalf("smoke against alo: exit %v, failures %q, counters %+v", err, res.Failures, res.Counters)
	}
}

// TestPositiveFlags: a number flag given as 0 or less is refused by name;
// one left out (0, the scenario's default) or positive is not.
func TestPositiveFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--n", "0"}, {"--n", "-1"}, {"--i64", "0"}, {"--u64", "0"}, {"--f", "0"}, {"--f", "NaN"}, {"--d", "0s"}, {"--d", "-1s"},
	} {
		fs := numberFlags()
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := positiveFlags(fs); err == nil || !strings.Contains(err.Error(), args[0]+" ") {
			t.Errorf("%q: %v, want an error naming the flag", args, err)
		}
	}
	fs := numberFlags()
	if err := fs.Parse([]string{"--n", "1", "--f", "0.5", "--d", "1ms", "--s", ""}); err != nil {
		t.Fatal(err)
	}
	if err := positiveFlags(fs); err != nil {
		t.Error(err)
	}
}

func numberFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Int("n", 0, "")
	fs.Int64("i64", 0, "")
	fs.Uint64("u64", 0, "")
	fs.Float64("f", 0, "")
	fs.Duration("d", 0, "")
	fs.String("s", "", "")
	return fs
}
