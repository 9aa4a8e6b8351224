package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Options configure one run. A zero field takes the scenario's default
// (see scenarioDefaults), so the command line only says what differs.
type Options struct {
	Scenario string

	Addrs     []string // gateways to load (loopback only); default 127.0.0.1:8080
	ServerCmd string   // start ALO with this shell command ({addr}, {port} filled in); the tool owns it
	Pids      []int    // processes to measure (RSS, CPU); default: whoever listens on the first address

	Users   int       // users in the run
	Friends int       // friends per user
	Graph   GraphKind // uniform or powerlaw
	ZipfS   float64   // power-law exponent

	Rate     float64       // churn events (connects + disconnects) per second
	Duration time.Duration // measured churn
	Warmup   time.Duration // churn before measuring
	Deadline time.Duration // a notification later than this counts as lost
	Cooldown time.Duration // least rest between a user's sessions (≥ Deadline)
	Settle   time.Duration // quiet time before the final check
	Close    CloseMode

	Workers   int // worker processes; 0: as many as PerWorker needs
	PerWorker int // sockets one worker may hold; default 15000 (the file limit is 20,000)
	Sources   int // source addresses 127.0.0.1..N; 0: one per 20,000 sockets, at least 4

	Seed     uint64
	UserBase int64 // id of the run's first user; default random, so runs never share users

	Ceilings string // auto, on, off

	// throughput
	StepDur    time.Duration
	StepFactor float64
	MaxRate    float64
	P99Limit   time.Duration

	// hotuser
	Watchers int
	Cycles   int

	// idle
	Conns int

	// storm
	RestartWait time.Duration // how long the restarted gateway may take to listen

	Progress io.Writer // progress lines; nil: none
}

// scenarioDefaults fills o's zero fields for its scenario.
func (o *Options) scenarioDefaults() error {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defD := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	defF := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	ceil := "on"
	switch o.Scenario {
	case "smoke":
		// The smoke is about correctness, run in CI beside other tests on
		// busy cores: a generous deadline keeps a slow moment from reading
		// as loss. Half of 1,000 users rest while 100 connect a second:
		// five seconds each, past the cooldown, so no event lacks a user.
		def(&o.Users, 1000)
		def(&o.Friends, 10)
		defF(&o.Rate, 200)
		defD(&o.Duration, 3*time.Second)
		defD(&o.Deadline, 3*time.Second)
		ceil = "off"
	case "latency":
		def(&o.Users, 10000)
		def(&o.Friends, 20)
		defF(&o.Rate, 2000)
		defD(&o.Duration, 30*time.Second)
		defD(&o.Warmup, 5*time.Second)
	case "throughput":
		def(&o.Users, 20000)
		def(&o.Friends, 50)
		defF(&o.Rate, 1000)
		defD(&o.StepDur, 5*time.Second)
		defF(&o.StepFactor, 1.5)
		defF(&o.MaxRate, 200000)
		defD(&o.P99Limit, 50*time.Millisecond)
		defD(&o.Deadline, 500*time.Millisecond)
	case "hotuser":
		def(&o.Watchers, 5000)
		def(&o.Cycles, 10)
		o.Users = o.Watchers + 1
		def(&o.Friends, 10)
	case "idle":
		def(&o.Friends, 10)
		defD(&o.Settle, 3*time.Second)
		// The gateway's own file limit is the machine's limit: 20,000 per
		// process, less what it needs for itself.
		def(&o.Conns, 19500*max(1, len(o.Addrs)))
		o.Users = o.Conns
	case "storm":
		def(&o.Conns, 19000)
		def(&o.Friends, 10)
		defD(&o.Settle, 5*time.Second) // lease 3 s + 1 s, and a margin
		defD(&o.RestartWait, 60*time.Second)
		o.Users = o.Conns
	default:
		return fmt.Errorf("bench: unknown scenario %q (want smoke, latency, throughput, hotuser, idle or storm)", o.Scenario)
	}
	if o.Graph == "" {
		o.Graph = GraphUniform
	}
	defD(&o.Deadline, time.Second)
	defD(&o.Cooldown, o.Deadline+o.Deadline/4)
	if o.Cooldown < o.Deadline {
		return fmt.Errorf("bench: cooldown %v is shorter than the deadline %v: a user's next session could race its last one's offline", o.Cooldown, o.Deadline)
	}
	defD(&o.Settle, o.Deadline+500*time.Millisecond)
	if o.Close == "" {
		o.Close = CloseMix
	}
	def(&o.PerWorker, 15000)
	if o.Ceilings == "" || o.Ceilings == "auto" {
		o.Ceilings = ceil
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	if o.UserBase == 0 {
		// Random and far from small ids, so a run never meets another
		// run's users, or a person's, on a long-lived server.
		o.UserBase = 1_000_000_000 + rand.Int64N(1<<40)
	}
	if len(o.Addrs) == 0 {
		o.Addrs = []string{"127.0.0.1:8080"}
	}
	return nil
}
