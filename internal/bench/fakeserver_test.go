package bench

import (
	"bufio"
	"encoding/json"
	"net"
	"strconv"
	"sync"
	"testing"
)

// fakeServer is a throwaway, single-process ALO for testing the tool: the
// protocol and semantics of DESIGN §1–2 over real sockets, with optional
// faults to prove the checker sees them.
type fakeServer struct {
	ln net.Listener

	mu       sync.Mutex
	sessions map[int64]map[*fakeConn]bool // user → open sessions
	watchers map[int64]map[*fakeConn]bool // user → sessions whose list has it
	notified int

	dropEvery int // drop every n-th live notification
	dupEvery  int // send every n-th live notification twice
	wg        sync.WaitGroup
}

type fakeConn struct {
	c       net.Conn
	out     chan []byte
	user    int64
	friends []int64
}

func startFake(t testing.TB) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln, sessions: map[int64]map[*fakeConn]bool{}, watchers: map[int64]map[*fakeConn]bool{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, ss := range f.sessions {
			for s := range ss {
				s.c.Close()
			}
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

// fakeEnv, set to an address, makes the test binary the fake server
// listening there until it is killed.
const fakeEnv = "ALO_BENCH_FAKE"

func serveFakeAt(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	f := &fakeServer{ln: ln, sessions: map[int64]map[*fakeConn]bool{}, watchers: map[int64]map[*fakeConn]bool{}}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go f.serve(c)
	}
}

func stateLine(u int64, on bool) []byte {
	return []byte(`{"user_id":` + strconv.FormatInt(u, 10) + `,"online":` + strconv.FormatBool(on) + "}\n")
}

func (f *fakeServer) serve(c net.Conn) {
	s := &fakeConn{c: c, out: make(chan []byte, 4096)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := bufio.NewWriter(c)
		for b := range s.out {
			w.Write(b)
			if len(s.out) == 0 {
				if w.Flush() != nil {
					break
				}
			}
		}
		w.Flush()
		c.Close()
	}()
	sc := bufio.NewScanner(c)
	registered := false
	for sc.Scan() {
		var m struct {
			UserID  int64   `json:"user_id"`
			Friends []int64 `json:"friends"`
			Online  *bool   `json:"online"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			break
		}
		if !registered {
			s.user, s.friends = m.UserID, m.Friends
			f.register(s)
			registered = true
			continue
		}
		if m.Online != nil && !*m.Online {
			break
		}
	}
	if registered {
		f.unregister(s)
	}
	close(s.out)
	<-done
}

func (f *fakeServer) register(s *fakeConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fr := range s.friends {
		if len(f.sessions[fr]) > 0 {
			s.out <- stateLine(fr, true)
		}
		if f.watchers[fr] == nil {
			f.watchers[fr] = map[*fakeConn]bool{}
		}
		f.watchers[fr][s] = true
	}
	s.out <- []byte(`{"ready":true,"session":"fake"}` + "\n")
	if f.sessions[s.user] == nil {
		f.sessions[s.user] = map[*fakeConn]bool{}
	}
	first := len(f.sessions[s.user]) == 0
	f.sessions[s.user][s] = true
	if first {
		f.notifyLocked(s.user, true)
	}
}

func (f *fakeServer) unregister(s *fakeConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fr := range s.friends {
		delete(f.watchers[fr], s)
	}
	delete(f.sessions[s.user], s)
	if len(f.sessions[s.user]) == 0 {
		f.notifyLocked(s.user, false)
	}
}

func (f *fakeServer) notifyLocked(u int64, on bool) {
	for w := range f.watchers[u] {
		f.notified++
		if f.dropEvery > 0 && f.notified%f.dropEvery == 0 {
			continue
		}
		w.out <- stateLine(u, on)
		if f.dupEvery > 0 && f.notified%f.dupEvery == 0 {
			w.out <- stateLine(u, on)
		}
	}
}
