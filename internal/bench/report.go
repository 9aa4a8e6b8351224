package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what a run found: a table of figures for people, and the same
// and more as fields for --json.
type Result struct {
	Scenario string   `json:"scenario"`
	Pass     bool     `json:"pass"`
	Failures []string `json:"failures,omitempty"` // assertions that did not hold
	Errors   []string `json:"errors,omitempty"`   // what stopped the run
	Notes    []string `json:"notes,omitempty"`

	Addrs       []string      `json:"addrs"`
	Users       int           `json:"users"`
	Friends     int           `json:"friends"`
	Graph       GraphKind     `json:"graph"`
	WatchersMin int           `json:"watchers_min"`
	WatchersMed int           `json:"watchers_median"`
	WatchersMax int           `json:"watchers_max"`
	Rate        float64       `json:"rate,omitempty"`
	Duration    time.Duration `json:"duration_ns,omitempty"`
	Deadline    time.Duration `json:"deadline_ns"`
	Workers     int           `json:"workers"`
	Sources     int           `json:"sources"`
	Seed        uint64        `json:"seed"`
	UserBase    int64         `json:"user_base"`
	Pids        []int         `json:"pids,omitempty"`

	Rows []Row `json:"rows"`

	Counters     Stats         `json:"counters"` // whole run, summed over workers
	Online       Summary       `json:"latency_online"`
	Offline      Summary       `json:"latency_offline"`
	Ready        Summary       `json:"latency_ready"`
	Lag          Summary       `json:"schedule_lag"`
	NotifsPerSec float64       `json:"notifs_per_sec,omitempty"`
	RSSPerConn   float64       `json:"rss_per_conn,omitempty"`
	CPUPerNotif  time.Duration `json:"cpu_per_notif_ns,omitempty"`
	ServerCores  float64       `json:"server_cores,omitempty"` // CPU seconds per second in the measured phase
	ToolCores    float64       `json:"tool_cores,omitempty"`   // the same for the tool's own processes

	Ceilings *Ceilings     `json:"ceilings,omitempty"`
	Steps    []Step        `json:"steps,omitempty"`
	Hot      []HotCycle    `json:"hot,omitempty"`
	Storm    *StormResult  `json:"storm,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	started  time.Time
}

// Row is one line of the summary table.
type Row struct {
	Metric  string `json:"metric"`
	ALO     string `json:"alo"`
	Ceiling string `json:"ceiling,omitempty"`
	Ratio   string `json:"ratio,omitempty"`
	Target  string `json:"target,omitempty"`
	Met     *bool  `json:"met,omitempty"`
}

// Step is one rate of the throughput ramp.
type Step struct {
	Rate         float64 `json:"rate"`
	NotifsPerSec float64 `json:"notifs_per_sec"`
	Online       Summary `json:"latency_online"`
	Offline      Summary `json:"latency_offline"`
	LagP99       int64   `json:"lag_p99_ns"`
	Skipped      int64   `json:"skipped"`
	ServerCores  float64 `json:"server_cores,omitempty"`
	ToolCores    float64 `json:"tool_cores,omitempty"`
}

// HotCycle is one connect (or leave) of the hot user.
type HotCycle struct {
	Online    bool          `json:"online"`
	Notified  int64         `json:"notified"`
	Watchers  int           `json:"watchers"`
	LastAfter time.Duration `json:"last_after_ns"` // from the hot user's dial (or close) to the last watcher's message
}

// StormResult is what the storm scenario measured.
type StormResult struct {
	Sessions   int           `json:"sessions"`
	Down       int64         `json:"down"`
	Recovered  int64         `json:"recovered"`
	DownAfter  time.Duration `json:"down_after_ns"` // kill → last client saw its socket close
	Restart    time.Duration `json:"restart_ns"`    // kill → the gateway listens again
	Absorb     time.Duration `json:"absorb_ns"`     // reconnect order → last session ready
	Total      time.Duration `json:"total_ns"`      // kill → last session ready
	Supervised bool          `json:"supervised"`    // restarted by someone else
	WrongFinal int64         `json:"wrong_final"`   // friend states still wrong after settling
	LostDuring int64         `json:"lost_during"`   // the exactly-once figures, for information:
	DupDuring  int64         `json:"dup_during"`    // faults void the promise (DESIGN §3)
	SpurDuring int64         `json:"spurious_during"`
}

func newResult(o Options) *Result {
	return &Result{
		Scenario: o.Scenario, Addrs: o.Addrs, Users: o.Users, Friends: o.Friends, Graph: o.Graph,
		Rate: o.Rate, Duration: o.Duration, Deadline: o.Deadline, Seed: o.Seed, UserBase: o.UserBase,
		started: time.Now(),
	}
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Result) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func (r *Result) row(metric, alo, ceiling, rat, target string, met *bool) {
	r.Rows = append(r.Rows, Row{Metric: metric, ALO: alo, Ceiling: ceiling, Ratio: rat, Target: target, Met: met})
}

func (r *Result) finish() {
	r.Elapsed = time.Since(r.started)
	r.Pass = len(r.Failures) == 0 && len(r.Errors) == 0
}

func boolp(b bool) *bool { return &b }

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("bench: write json: %w", err)
	}
	return nil
}

// WriteTable writes the summary people read.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nalo-bench %s — %d users × %d friends (%s; watchers min/median/max %d/%d/%d), %d worker(s), %d source address(es), gateways %s\n",
		r.Scenario, r.Users, r.Friends, r.Graph, r.WatchersMin, r.WatchersMed, r.WatchersMax, r.Workers, r.Sources, strings.Join(r.Addrs, ","))
	if r.Rate > 0 && r.Duration > 0 {
		fmt.Fprintf(&b, "churn %s events/s for %v (open loop), deadline %v, seed %d\n", siCount(r.Rate), r.Duration, r.Deadline, r.Seed)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tALO\tceiling\tALO/ceiling\ttarget\t")
	fmt.Fprintln(tw, "------\t---\t-------\t-----------\t------\t")
	for _, row := range r.Rows {
		mark := ""
		if row.Met != nil {
			mark = " ✓"
			if !*row.Met {
				mark = " ✗"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\t\n", row.Metric, row.ALO, row.Ceiling, row.Ratio, row.Target, mark)
	}
	tw.Flush()
	if len(r.Steps) > 0 {
		fmt.Fprintln(&b, "\nthroughput ramp:")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "events/s\tnotif/s\ton p50\ton p99\toff p99\tlag p99\tserver cores\ttool cores\t")
		for _, s := range r.Steps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t\n", siCount(s.Rate), siCount(s.NotifsPerSec),
				fmtDur(s.Online.P50), fmtDur(s.Online.P99), fmtDur(s.Offline.P99), fmtDur(time.Duration(s.LagP99)), s.ServerCores, s.ToolCores)
		}
		tw.Flush()
	}
	if c := r.Ceilings; c != nil && c.StormConns > 0 {
		fmt.Fprintf(&b, "\nceiling, this run: %d clients dial a bare server at once, write a hello, read an answer: last answer after %s\n",
			c.StormConns, fmtDur(c.StormFloor))
	} else if c != nil {
		fmt.Fprintf(&b, "\nceilings, this run: tcp round trip p50 %s p99 %s; nats request/reply p50 %s p99 %s; nats pub/sub %s msgs/s; bare server %s per idle conn (%d conns)\n",
			fmtDur(c.TCPRoundTrip.P50), fmtDur(c.TCPRoundTrip.P99), fmtDur(c.NATSRequest.P50), fmtDur(c.NATSRequest.P99),
			siCount(c.NATSPubSub), fmtBytes(c.BarePerConnRSS), c.BareConns)
		if c.FanOut.N > 0 {
			fmt.Fprintf(&b, "raw fan-out, one line to each of %d sockets: first write → last read p50 %s, max %s\n",
				c.FanOutConns, fmtDur(c.FanOut.P50), fmtDur(c.FanOut.Max))
		}
	}
	c := r.Counters
	fmt.Fprintf(&b, "\nsessions %d ready, %d dial failures, %d closed by the server, %d error messages, %d bad lines; %d (session, friend) pairs checked\n",
		c.Ready, c.DialFails, c.ServerCloses, c.ErrorMsgs, c.BadLines, c.Checked)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "FAIL: %s\n", f)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "ERROR: %s\n", e)
	}
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "%s (%v)\n", verdict, r.Elapsed.Round(100*time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}
