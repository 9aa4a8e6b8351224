package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// session is one client connection of one user.
type session struct {
	user int
	k    int // index of its online transition in the history
	conn net.Conn

	mu       sync.Mutex
	helloAt  int64 // just before the hello was written
	readyAt  int64 // ready read; 0 until then
	endAt    int64 // recording stopped; 0 while recording
	closing  bool  // the tool ended it
	checked  bool  // already checked: it must not be again
	receipts []uint32
	foreign  int      // state messages about users outside the run
	trace    []string // with ALO_BENCH_DEBUG: every line received, timed
}

// receipt packs a friend index and a state.
func receipt(friend int, online bool) uint32 {
	r := uint32(friend) << 1
	if online {
		r |= 1
	}
	return r
}

// runSession connects user u, says hello and reads until the session ends,
// then hands it to the checker. planned is when the churn schedule wanted
// the connect, for the lag figure (0: not scheduled).
func (w *Worker) runSession(ctx context.Context, u int, planned int64) {
	l := w.local(u)
	dialAt := w.clock.Now()
	if planned > 0 {
		w.lag.record(dialAt - planned)
	}
	w.cnt.dials.Add(1)
	conn, err := w.dial(ctx, u)
	if err != nil {
		w.cnt.dialFails.Add(1)
		w.mu.Lock()
		w.failLocked(l, w.clock.Now())
		w.mu.Unlock()
		return
	}
	w.mu.Lock()
	k, err := w.hist.Append(u, dialAt)
	w.mu.Unlock()
	if err != nil {
		conn.Close()
		w.cnt.dialFails.Add(1)
		w.mu.Lock()
		w.restLocked(l, w.clock.Now())
		w.mu.Unlock()
		return
	}
	s := &session{user: u, k: k, conn: conn}
	w.mu.Lock()
	w.st[l].s = s
	if w.closed {
		s.endAt, s.closing, s.checked = w.clock.Now(), true, true
		conn.Close()
	}
	w.mu.Unlock()
	w.cnt.open.Add(1)

	hello := AppendHello(make([]byte, 0, 32+20*len(w.graph.Friends[u])), w.cfg.UserBase+int64(u), w.friendIDs(u))
	s.mu.Lock()
	s.helloAt = w.clock.Now()
	s.mu.Unlock()
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(hello); err == nil {
		_ = conn.SetWriteDeadline(time.Time{})
		w.readLoop(s)
	}
	conn.Close()
	w.cnt.open.Add(-1)
	w.endSession(s)
}

// readLoop reads server lines until the connection ends.
func (w *Worker) readLoop(s *session) {
	r := bufio.NewReaderSize(s.conn, 2048)
	var m ServerMsg
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// No v1 server line is this long; drain it and count it.
			w.cnt.badLines.Add(1)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			continue
		}
		if err != nil {
			if len(line) > 0 && !errors.Is(err, io.EOF) {
				w.cnt.badLines.Add(1)
			}
			return
		}
		now := w.clock.Now()
		line = trimEOL(line)
		if debugOn {
			s.mu.Lock()
			s.trace = append(s.trace, fmt.Sprintf("%d %s", now, line))
			s.mu.Unlock()
		}
		if len(line) == 0 {
			continue // a keep-alive
		}
		if ParseServer(line, &m) != nil {
			w.cnt.badLines.Add(1)
			continue
		}
		switch m.Kind {
		case MsgState:
			w.onState(s, &m, now)
		case MsgReady:
			w.onReady(s, now)
		case MsgError:
			w.cnt.errorMsgs.Add(1)
		default:
			w.cnt.badLines.Add(1)
		}
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// onState records a state message and, once the session is ready, times it
// against the transition it reports.
func (w *Worker) onState(s *session, m *ServerMsg, now int64) {
	x := m.UserID - w.cfg.UserBase
	inRun := x >= 0 && x < int64(w.cfg.Graph.Users)
	s.mu.Lock()
	if s.endAt != 0 {
		s.mu.Unlock()
		return // after the tool stopped listening: owed nothing, counts nothing
	}
	if inRun {
		s.receipts = append(s.receipts, receipt(int(x), m.Online))
	} else {
		s.foreign++
	}
	live := s.readyAt != 0
	s.mu.Unlock()
	if !live {
		w.cnt.snapshots.Add(1)
		return
	}
	w.cnt.notifs.Add(1)
	if !inRun {
		w.cnt.unmatched.Add(1)
		return
	}
	// The message reports x's latest transition of its kind: users rest
	// longer than the deadline between sessions, so an older one would be
	// late anyway.
	n := w.hist.Count(int(x))
	k := n - 1
	if k >= 0 && (k%2 == 0) != m.Online {
		k--
	}
	if k < 0 {
		w.cnt.unmatched.Add(1)
		return
	}
	start, _ := w.hist.At(int(x), k)
	d := now - start
	if d > int64(w.cfg.Deadline) {
		w.cnt.late.Add(1)
	}
	w.lat.record(s.user, m.Online, d)
	if int(x) == w.cfg.HotUser {
		w.recordHot(k, now)
	}
}

// onReady marks the session registered: its user is online from here.
func (w *Worker) onReady(s *session, now int64) {
	s.mu.Lock()
	if s.readyAt != 0 || s.endAt != 0 {
		s.mu.Unlock()
		w.cnt.badLines.Add(1) // a second ready, or one after the end
		return
	}
	s.readyAt = now
	s.mu.Unlock()
	w.hist.Confirm(s.user, s.k, now)
	start, _ := w.hist.At(s.user, s.k)
	w.ready.record(now - start)
	w.cnt.ready.Add(1)
	w.cnt.online.Add(1)
	w.mu.Lock()
	l := w.local(s.user)
	if w.st[l].phase == phaseConnecting {
		w.connecting--
		w.addOnlineLocked(l)
	}
	if w.st[l].down {
		w.st[l].down = false
		w.storm.Recovered++
		w.storm.Pending--
		w.storm.LastReady = max(w.storm.LastReady, now)
	}
	w.mu.Unlock()
}

// endSession runs when a session's connection is gone: it records an
// offline transition the tool did not cause, rests or parks the user, and
// queues the session for checking.
func (w *Worker) endSession(s *session) {
	now := w.clock.Now()
	s.mu.Lock()
	unexpected := s.endAt == 0
	if unexpected {
		s.endAt = now
	}
	ready := s.readyAt != 0
	s.mu.Unlock()
	if ready {
		w.cnt.online.Add(-1)
	}
	l := w.local(s.user)
	w.mu.Lock()
	if unexpected {
		w.cnt.serverCloses.Add(1)
		w.removeOnlineLocked(l)
		if !ready {
			// Whether the server ever registered it is unknown.
			w.hist.Confirm(s.user, s.k, Void)
		}
		if _, err := w.hist.Append(s.user, now); err != nil {
			w.cnt.badLines.Add(1)
		}
	}
	if unexpected && w.stormOn {
		if w.st[l].phase == phaseConnecting {
			w.connecting--
		}
		w.st[l].phase = phaseOffline
		w.st[l].down = true
		w.st[l].offAt = now
		w.storm.Down++
		w.storm.Pending++
		if w.storm.FirstDown == 0 || now < w.storm.FirstDown {
			w.storm.FirstDown = now
		}
	} else {
		w.restLocked(l, now)
	}
	w.mu.Unlock()
	s.mu.Lock()
	queue := ready && !s.checked
	s.checked = true
	s.mu.Unlock()
	if queue {
		w.checks.add(s)
	}
}

// failLocked ends a connect that got no session: a user cut in a storm
// waits for the next reconnect round, any other rests.
func (w *Worker) failLocked(l int, now int64) {
	st := &w.st[l]
	if st.down && w.stormOn {
		if st.phase == phaseConnecting {
			w.connecting--
		}
		st.phase = phaseOffline
		return
	}
	w.restLocked(l, now)
}

// restLocked puts local user l at the back of the offline queue.
func (w *Worker) restLocked(l int, now int64) {
	st := &w.st[l]
	if st.phase == phaseConnecting {
		w.connecting--
	}
	st.phase = phaseOffline
	st.offAt = now
	st.s = nil
	w.offq = append(w.offq, int32(l))
}
