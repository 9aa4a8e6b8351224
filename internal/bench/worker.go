package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"
)

// CloseMode is how the tool ends a session it chose to end.
type CloseMode string

// The ways to end a session.
const (
	CloseLogout CloseMode = "logout" // send {"online": false}, the server closes
	CloseAbrupt CloseMode = "close"  // close the socket
	CloseMix    CloseMode = "mix"    // each way for half the users
)

// WorkerConfig is everything a worker needs; the coordinator sends it to
// each worker as JSON, so the fields are plain data.
type WorkerConfig struct {
	Index int `json:"index"` // this worker owns users u with u % Count == Index
	Count int `json:"count"`

	Graph    GraphSpec `json:"graph"`
	UserBase int64     `json:"user_base"` // user u's id is UserBase + u

	Addrs   []string `json:"addrs"`   // gateways, loopback; user u uses Addrs[u % len]
	Sources int      `json:"sources"` // source addresses 127.0.0.1 .. 127.0.0.Sources

	HistoryPath  string `json:"history_path"` // shared table; empty: private
	HistorySlots int    `json:"history_slots"`
	EpochWall    int64  `json:"epoch_wall"`

	Deadline time.Duration `json:"deadline"` // a notification later than this is lost
	Cooldown time.Duration `json:"cooldown"` // a user stays offline at least this long
	Close    CloseMode     `json:"close"`
	Seed     uint64        `json:"seed"`
	HotUser  int           `json:"hot_user"` // user whose notifications are timed per transition; -1 none

	DialTimeout time.Duration `json:"dial_timeout"`
}

// userState is what a worker knows about one of its users.
type userState struct {
	s         *session
	phase     phase
	offAt     int64 // when it last went offline
	onlinePos int32 // index in Worker.online while phase == phaseOnline
	down      bool  // cut by the server; waiting for a reconnect order
}

type phase uint8

const (
	phaseOffline phase = iota
	phaseConnecting
	phaseOnline
	phaseClosing
)

// Worker drives its share of the users: it opens and ends their sessions,
// reads what the server sends them, times and checks it.
type Worker struct {
	cfg   WorkerConfig
	clock Clock
	hist  *History
	graph *Graph

	cnt   counters
	lat   latShards
	ready lockedHist
	lag   lockedHist

	mu         sync.Mutex
	st         []userState // by local index u / Count
	offq       []int32     // offline users, oldest first (a FIFO: the longest rested goes next)
	online     []int32     // users whose session is ready, for random picks
	connecting int         // users dialing or waiting for ready
	rng        *rand.Rand
	hot        map[int]*HotStat
	storm      StormStats
	stormOn    bool // cut sessions wait for a reconnect order instead of resting
	closed     bool // closeAll ran: new sockets are closed at once

	checks checkQueue
	wg     sync.WaitGroup // session goroutines
}

// NewWorker builds a worker: the graph (every worker builds the same one),
// the history table, the user states. Open sockets only come with commands.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Count < 1 || cfg.Index < 0 || cfg.Index >= cfg.Count {
		return nil, fmt.Errorf("bench: worker %d of %d", cfg.Index, cfg.Count)
	}
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("bench: worker has no gateway address")
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = time.Second
	}
	if cfg.Sources < 1 {
		cfg.Sources = 1
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	g, err := cfg.Graph.Build()
	if err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, clock: NewClock(cfg.EpochWall), graph: g, hot: map[int]*HotStat{}}
	if cfg.HistoryPath != "" {
		w.hist, err = OpenHistory(cfg.HistoryPath)
		if err != nil {
			return nil, err
		}
		if w.hist.Users() != cfg.Graph.Users {
			w.hist.Close()
			return nil, fmt.Errorf("bench: history has %d users, graph %d", w.hist.Users(), cfg.Graph.Users)
		}
	} else {
		w.hist = NewHistory(cfg.Graph.Users, max(cfg.HistorySlots, 2))
	}
	w.rng = rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.Index)))
	n := (cfg.Graph.Users - cfg.Index + cfg.Count - 1) / cfg.Count
	w.st = make([]userState, n)
	w.offq = make([]int32, 0, n)
	for l := range n {
		w.st[l].offAt = -1 << 62
		if w.user(l) == cfg.HotUser {
			continue // only ever moved by explicit commands
		}
		w.offq = append(w.offq, int32(l))
	}
	// Users join in a shuffled order so that the first ones online are not
	// a block of neighbours in the graph.
	w.rng.Shuffle(len(w.offq), func(i, j int) { w.offq[i], w.offq[j] = w.offq[j], w.offq[i] })
	w.checks.init(w)
	return w, nil
}

func (w *Worker) user(local int) int { return local*w.cfg.Count + w.cfg.Index }
func (w *Worker) local(u int) int    { return u / w.cfg.Count }
func (w *Worker) owns(u int) bool {
	return u >= 0 && u < w.cfg.Graph.Users && u%w.cfg.Count == w.cfg.Index
}

// dial opens user u's socket from its source address.
func (w *Worker) dial(ctx context.Context, u int) (net.Conn, error) {
	addr := w.cfg.Addrs[u%len(w.cfg.Addrs)]
	src := net.IPv4(127, 0, 0, byte(1+(u/len(w.cfg.Addrs))%w.cfg.Sources))
	d := net.Dialer{Timeout: w.cfg.DialTimeout, LocalAddr: &net.TCPAddr{IP: src}, Control: bindNoPort}
	return d.DialContext(ctx, "tcp", addr)
}

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT, so that binding a source address
// leaves the port to connect time, where the kernel picks it per
// destination, instead of drawing it at bind time from the address's one
// pool of ~28k ephemeral ports.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		const ipBindAddressNoPort = 24 // linux/in.h
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// friendIDs returns u's hello friend list as ids.
func (w *Worker) friendIDs(u int) []int64 {
	fs := w.graph.Friends[u]
	ids := make([]int64, len(fs))
	for i, f := range fs {
		ids[i] = w.cfg.UserBase + int64(f)
	}
	return ids
}

// startUser begins a session for user u (phase must be set to connecting by
// the caller, under mu).
func (w *Worker) startUser(ctx context.Context, u int, planned int64) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.runSession(ctx, u, planned)
	}()
}

// connectNext starts the longest-rested eligible offline user. It reports
// false when nobody may connect now.
func (w *Worker) connectNext(ctx context.Context, planned int64) bool {
	now := w.clock.Now()
	w.mu.Lock()
	for len(w.offq) > 0 {
		l := int(w.offq[0])
		u := w.user(l)
		st := &w.st[l]
		if w.hist.Count(u)+2 > w.hist.Slots() {
			w.offq = w.offq[1:] // spent its slots: out of the run
			continue
		}
		if st.offAt+int64(w.cfg.Cooldown) > now {
			break
		}
		w.offq = w.offq[1:]
		st.phase = phaseConnecting
		w.connecting++
		w.mu.Unlock()
		w.startUser(ctx, u, planned)
		return true
	}
	w.mu.Unlock()
	return false
}

// disconnectRandom ends the session of a random online user.
func (w *Worker) disconnectRandom() bool {
	w.mu.Lock()
	if len(w.online) == 0 {
		w.mu.Unlock()
		return false
	}
	l := int(w.online[w.rng.IntN(len(w.online))])
	s := w.endLocked(l)
	w.mu.Unlock()
	w.finishEnd(s)
	return true
}

// disconnectUser ends user u's session if it is online.
func (w *Worker) disconnectUser(u int) bool {
	w.mu.Lock()
	l := w.local(u)
	if w.st[l].phase != phaseOnline {
		w.mu.Unlock()
		return false
	}
	s := w.endLocked(l)
	w.mu.Unlock()
	w.finishEnd(s)
	return true
}

// endLocked marks local user l's ready session as ending now: recording
// stops and the offline transition is recorded before anything is sent, so
// the transition's start precedes its effect.
func (w *Worker) endLocked(l int) *session {
	st := &w.st[l]
	w.removeOnlineLocked(l)
	st.phase = phaseClosing
	s := st.s
	t := w.clock.Now()
	s.mu.Lock()
	s.endAt = t
	s.closing = true
	s.mu.Unlock()
	if _, err := w.hist.Append(s.user, t); err != nil {
		// connectNext keeps two slots free for every session, so this
		// cannot happen; count it rather than corrupt the table.
		w.cnt.badLines.Add(1)
	}
	return s
}

// finishEnd sends the end of a session the chosen way. The reader goroutine
// sees the close and cleans up.
func (w *Worker) finishEnd(s *session) {
	w.cnt.logouts.Add(1)
	mode := w.cfg.Close
	if mode == CloseMix || mode == "" {
		mode = CloseLogout
		if s.user%2 == 1 {
			mode = CloseAbrupt
		}
	}
	if mode == CloseLogout {
		_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := s.conn.Write(logoutLine); err == nil {
			// The server closes; don't wait forever if it doesn't.
			_ = s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			return
		}
	}
	_ = s.conn.Close()
}

func (w *Worker) addOnlineLocked(l int) {
	w.st[l].onlinePos = int32(len(w.online))
	w.st[l].phase = phaseOnline
	w.online = append(w.online, int32(l))
}

func (w *Worker) removeOnlineLocked(l int) {
	st := &w.st[l]
	if st.phase != phaseOnline {
		return
	}
	i := int(st.onlinePos)
	last := w.online[len(w.online)-1]
	w.online[i] = last
	w.st[last].onlinePos = int32(i)
	w.online = w.online[:len(w.online)-1]
}

// onlineCount returns how many owned users are ready and on the way.
func (w *Worker) onlineCount() (ready, connecting int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.online), w.connecting
}

// recordHot notes a live message about the hot user's transition k.
func (w *Worker) recordHot(k int, at int64) {
	w.mu.Lock()
	h := w.hot[k]
	if h == nil {
		h = &HotStat{K: k}
		w.hot[k] = h
	}
	h.N++
	h.LastAt = max(h.LastAt, at)
	w.mu.Unlock()
}

// Stats returns the counters and the histograms recorded since the last call.
func (w *Worker) Stats() Stats {
	var on, off Histogram
	w.lat.drain(&on, &off)
	s := Stats{
		Worker:       w.cfg.Index,
		At:           w.clock.Now(),
		Dials:        w.cnt.dials.Load(),
		DialFails:    w.cnt.dialFails.Load(),
		Ready:        w.cnt.ready.Load(),
		Logouts:      w.cnt.logouts.Load(),
		ServerCloses: w.cnt.serverCloses.Load(),
		ErrorMsgs:    w.cnt.errorMsgs.Load(),
		BadLines:     w.cnt.badLines.Load(),
		Open:         w.cnt.open.Load(),
		Online:       w.cnt.online.Load(),
		Notifs:       w.cnt.notifs.Load(),
		Snapshots:    w.cnt.snapshots.Load(),
		Late:         w.cnt.late.Load(),
		Unmatched:    w.cnt.unmatched.Load(),
		Skipped:      w.cnt.skipped.Load(),
		Scheduled:    w.cnt.scheduled.Load(),
		Checked:      w.cnt.checked.Load(),
		Sessions:     w.cnt.sessions.Load(),
		Lost:         w.cnt.lost.Load(),
		Dup:          w.cnt.dup.Load(),
		Spurious:     w.cnt.spurious.Load(),
		Strangers:    w.cnt.strangers.Load(),
		WrongFinal:   w.cnt.wrongFinal.Load(),
		LatOnline:    on.Data(),
		LatOffline:   off.Data(),
		LatReady:     w.ready.take(),
		Lag:          w.lag.take(),
	}
	w.mu.Lock()
	for _, h := range w.hot {
		s.Hot = append(s.Hot, *h)
	}
	if w.stormOn || w.storm.Down > 0 {
		st := w.storm
		s.Storm = &st
	}
	w.mu.Unlock()
	slices.SortFunc(s.Hot, func(a, b HotStat) int { return a.K - b.K })
	return s
}
