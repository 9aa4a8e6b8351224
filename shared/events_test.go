package shared

import (
	"reflect"
	"testing"
)

// Decoding into reused values must not let a field that the new message
// omits keep the previous message's value.
func TestUnmarshalReuseLeavesNothingStale(t *testing.T) {
	var b Batch
	first := []byte(`{"gw":"a","boot":"x","events":[{"type":"open","sid":"1","user_id":5,"friends":[1,2],"known":[1],"ready":true,"sync":true,"gen":3}]}`)
	second := []byte(`{"gw":"b","boot":"y","events":[{"type":"update","sid":"2","user_id":6}]}`)
	if err := UnmarshalBatch(first, &b); err != nil {
		t.Fatal(err)
	}
	if err := UnmarshalBatch(second, &b); err != nil {
		t.Fatal(err)
	}
	ev := b.Events[0]
	if ev.Friends != nil || ev.Known != nil || ev.Ready || ev.Sync || ev.Gen != 0 {
		t.Fatalf("stale fields after reuse: %+v", ev)
	}

	var c Control
	if err := UnmarshalControl([]byte(`{"sessions":[{"sid":"1","online":[7],"offline":[8]}]}`), &c); err != nil {
		t.Fatal(err)
	}
	if err := UnmarshalControl([]byte(`{"sessions":[{"sid":"2"}]}`), &c); err != nil {
		t.Fatal(err)
	}
	if st := c.Sessions[0]; st.Online != nil || st.Offline != nil || st.Session != "2" {
		t.Fatalf("stale fields after reuse: %+v", st)
	}
	if err := UnmarshalControl([]byte(`{"sync":true}`), &c); err != nil || !c.Sync || len(c.Sessions) != 0 {
		t.Fatalf("sync request decoded as %+v, %v", c, err)
	}
}

// A batch assembled event by event decodes exactly as the same batch
// encoded at once, and SizeWith predicts its size to the byte.
func TestBatchWriterMatchesMarshalBatch(t *testing.T) {
	events := []Event{
		{Type: EventSyncBegin, Gen: 3},
		{Type: EventOpen, Sync: true, Gen: 3, Session: "b-1", User: 4, Friends: []int64{1, 9223372036854775807}, Known: []int64{1}, Ready: true},
		{Type: EventHeartbeat, Sessions: 12, Digest: 1234567890123},
	}
	w, err := NewBatchWriter("gw-1", "6f1a")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 { // the second round proves Reset
		for i := range events {
			data, err := MarshalEvent(&events[i])
			if err != nil {
				t.Fatal(err)
			}
			want := w.SizeWith(len(data))
			w.Add(data)
			if got := len(w.Bytes()); got != want {
				t.Fatalf("round %d: size %d, SizeWith said %d", round, got, want)
			}
		}
		whole, _ := MarshalBatch(&Batch{Gateway: "gw-1", Boot: "6f1a", Events: events})
		var a, b Batch
		if err := UnmarshalBatch(w.Bytes(), &a); err != nil {
			t.Fatalf("%s: %v", w.Bytes(), err)
		}
		if err := UnmarshalBatch(whole, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("assembled %+v, marshalled %+v", a, b)
		}
		w.Reset()
	}
}

// A message built piece by piece decodes as the Control it stands for, and
// SizeWith predicts its size exactly.
func TestControlBuilder(t *testing.T) {
	var b ControlBuilder
	states := []SessionState{{Session: "a", Online: []int64{1, 2}}, {Session: "b", Offline: []int64{3}}, {Session: "c"}}
	want := 0
	for i := range states {
		enc, err := EncodeSessionState(&states[i])
		if err != nil {
			t.Fatal(err)
		}
		want = b.SizeWith(enc)
		b.Add(enc)
	}
	data := b.Finish()
	if len(data) != want {
		t.Fatalf("size %d, SizeWith said %d", len(data), want)
	}
	var c Control
	if err := UnmarshalControl(data, &c); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if len(c.Sessions) != 3 || c.Sessions[0].Online[1] != 2 || c.Sessions[1].Offline[0] != 3 || c.Sessions[2].Session != "c" {
		t.Fatalf("decoded %+v", c)
	}
	if b.Len() != 0 || b.Finish() != nil {
		t.Fatal("builder not empty after Finish")
	}
}
