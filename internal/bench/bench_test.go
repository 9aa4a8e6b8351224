package bench

import (
	"testing"
	"time"
)

// BenchmarkParseServer is the tool's cost to decode one notification.
func BenchmarkParseServer(b *testing.B) {
	line := []byte(`{"user_id":1234567890123,"online":true}`)
	var m ServerMsg
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseServer(line, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOnState is the tool's cost to record, time and keep one live
// notification, past the socket read.
func BenchmarkOnState(b *testing.B) {
	w, err := NewWorker(WorkerConfig{
		Count: 1, Graph: GraphSpec{Users: 1000, K: 10, Seed: 1}, UserBase: 1,
		Addrs: []string{"127.0.0.1:1"}, HistorySlots: 8, EpochWall: time.Now().UnixNano(), HotUser: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	_, _ = w.hist.Append(5, w.clock.Now())
	s := &session{user: 1, readyAt: 1}
	m := ServerMsg{Kind: MsgState, UserID: 6, Online: true}
	b.ReportAllocs()
	for b.Loop() {
		w.onState(s, &m, w.clock.Now())
		if len(s.receipts) > 1<<16 {
			s.receipts = s.receipts[:0]
		}
	}
}
