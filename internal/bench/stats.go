package bench

import (
	"sync"
	"sync/atomic"
)

// Stats is what a worker reports: counters since it started, histograms
// since its previous report (the coordinator adds them up).
type Stats struct {
	Worker int   `json:"worker"`
	At     int64 `json:"at"` // run clock when taken

	Dials        int64 `json:"dials"`         // connection attempts
	DialFails    int64 `json:"dial_fails"`    // attempts that got no socket
	Ready        int64 `json:"ready"`         // sessions that reached ready
	Logouts      int64 `json:"logouts"`       // sessions the tool ended
	ServerCloses int64 `json:"server_closes"` // sessions the server or the network ended
	ErrorMsgs    int64 `json:"error_msgs"`    // {"error":...} lines received
	BadLines     int64 `json:"bad_lines"`     // lines that are not protocol v1
	Open         int64 `json:"open"`          // sessions open now
	Online       int64 `json:"online"`        // of which ready

	Notifs    int64 `json:"notifs"`    // live state messages received (after ready)
	Snapshots int64 `json:"snapshots"` // state messages before ready
	Late      int64 `json:"late"`      // live messages later than the deadline
	Unmatched int64 `json:"unmatched"` // live messages about a user with no such transition

	Skipped   int64 `json:"skipped"` // churn events with no eligible user
	Scheduled int64 `json:"scheduled"`

	Checked    int64 `json:"checked"`     // (session, friend) pairs checked
	Sessions   int64 `json:"sessions"`    // sessions checked
	Lost       int64 `json:"lost"`        // owed messages not received
	Dup        int64 `json:"dup"`         // messages received twice in a row
	Spurious   int64 `json:"spurious"`    // messages never owed
	Strangers  int64 `json:"strangers"`   // of which about users the watcher does not list
	WrongFinal int64 `json:"wrong_final"` // pairs whose last message disagrees with the settled state

	LatOnline  HistData `json:"lat_online"`  // connect → friend notified online
	LatOffline HistData `json:"lat_offline"` // disconnect → friend notified offline
	LatReady   HistData `json:"lat_ready"`   // connect → own ready
	Lag        HistData `json:"lag"`         // churn events: planned → begun

	Hot   []HotStat   `json:"hot,omitempty"`
	Storm *StormStats `json:"storm,omitempty"`
}

// HotStat is how one transition of the hot user reached this worker's
// watchers: how many live messages, and when the last one arrived.
type HotStat struct {
	K      int   `json:"k"`
	N      int64 `json:"n"`
	LastAt int64 `json:"last_at"`
}

// StormStats tracks sessions cut by the server and brought back.
type StormStats struct {
	Down      int64 `json:"down"`      // sessions cut while the tool wanted them up
	Recovered int64 `json:"recovered"` // of those, back to ready
	FirstDown int64 `json:"first_down"`
	LastReady int64 `json:"last_ready"`
	Pending   int64 `json:"pending"` // down and not back yet
}

// counters are the worker's hot-path counters.
type counters struct {
	dials, dialFails, ready, logouts, serverCloses, errorMsgs, badLines atomic.Int64
	open, online                                                        atomic.Int64
	notifs, snapshots, late, unmatched                                  atomic.Int64
	skipped, scheduled                                                  atomic.Int64
	checked, sessions, lost, dup, spurious, strangers, wrongFinal       atomic.Int64
}

// latShards spreads latency recording over several locks: every session
// goroutine records, and one lock would be the tool's bottleneck at a few
// hundred thousand messages a second.
type latShards [64]latShard

type latShard struct {
	mu      sync.Mutex
	online  Histogram
	offline Histogram
	_       [64]byte // keep neighbours' locks off one cache line
}

func (l *latShards) record(shard int, online bool, v int64) {
	s := &l[shard%len(l)]
	s.mu.Lock()
	if online {
		s.online.Record(v)
	} else {
		s.offline.Record(v)
	}
	s.mu.Unlock()
}

// drain moves every shard into on/off and empties the shards.
func (l *latShards) drain(on, off *Histogram) {
	for i := range l {
		s := &l[i]
		s.mu.Lock()
		on.Merge(&s.online)
		off.Merge(&s.offline)
		s.online.Reset()
		s.offline.Reset()
		s.mu.Unlock()
	}
}

// lockedHist is a histogram recorded from a few goroutines.
type lockedHist struct {
	mu sync.Mutex
	h  Histogram
}

func (l *lockedHist) record(v int64) {
	l.mu.Lock()
	l.h.Record(v)
	l.mu.Unlock()
}

func (l *lockedHist) take() HistData {
	l.mu.Lock()
	d := l.h.Data()
	l.h.Reset()
	l.mu.Unlock()
	return d
}

// counterFields lists the counters of s, so add and sub cannot forget one.
func (s *Stats) counterFields() []*int64 {
	return []*int64{&s.Dials, &s.DialFails, &s.Ready, &s.Logouts, &s.ServerCloses, &s.ErrorMsgs,
		&s.BadLines, &s.Open, &s.Online, &s.Notifs, &s.Snapshots, &s.Late, &s.Unmatched,
		&s.Skipped, &s.Scheduled, &s.Checked, &s.Sessions, &s.Lost, &s.Dup, &s.Spurious, &s.Strangers, &s.WrongFinal}
}

// add adds o's counters to s.
func (s *Stats) add(o *Stats) {
	a, b := s.counterFields(), o.counterFields()
	for i := range a {
		*a[i] += *b[i]
	}
}

// sub returns s's counters minus o's; gauges (Open, Online) keep s's value.
func (s *Stats) sub(o *Stats) Stats {
	d := *s
	a, b := d.counterFields(), o.counterFields()
	for i := range a {
		*a[i] -= *b[i]
	}
	d.Open, d.Online = s.Open, s.Online
	d.LatOnline, d.LatOffline, d.LatReady, d.Lag, d.Hot, d.Storm = HistData{}, HistData{}, HistData{}, HistData{}, nil, nil
	return d
}
