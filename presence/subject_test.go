package presence_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// A batch whose gw is not its subject's last token is forged (a gateway
// publishes only under its own id): presence drops it, and says so in a
// rate-limited line. Here one on g1's subject claims to be g2 and opens a
// session of user 2, and one on g2's subject says g1 stopped: neither takes
// effect, while g1's own next batch does.
func TestBatchSubjectMismatchDropped(t *testing.T) {
	ns := natsServer(t, 0)
	logs := &logBuffer{}
	startPresence(t, ns, logs.logger(), presence.Config{Rebuild: -1})
	subjects := shared.MustSubjects("")

	nc := alotest.Conn(t, ns)
	var mu sync.Mutex
	var told []string // what user 1's sessions are told
	if _, err := nc.Subscribe(subjects.User(1), func(m *nats.Msg) {
		mu.Lock()
		told = append(told, string(m.Data))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	g1 := newFakeGateway(t, ns, "g1", "b1")
	g1.send(shared.Event{Type: shared.EventOpen, Session: "s1", User: 1, Friends: []int64{2, 3}})
	alotest.WaitFor(t, alotest.Timeout, "s1 registered", func() bool { _, ok := g1.state("s1"); return ok })

	forge := func(subjectGW, gw string, evs ...shared.Event) {
		data, err := shared.MarshalBatch(&shared.Batch{Gateway: gw, Boot: "x", Events: evs})
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(subjects.Events(subjectGW), data); err != nil {
			t.Fatal(err)
		}
	}
	forge("g1", "g2", shared.Event{Type: shared.EventOpen, Session: "f1", User: 2, Friends: []int64{1}})
	forge("g2", "g1", shared.Event{Type: shared.EventBye})
	nc.Flush()
	g1.send(shared.Event{Type: shared.EventOpen, Session: "s3", User: 3, Friends: []int64{1}})

	want := string(shared.AppendState(nil, 3, true))
	alotest.WaitFor(t, alotest.Timeout, "user 1 told 3 is online", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range told {
			if m == want {
				return true
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	for _, m := range told {
		if strings.Contains(m, `"user_id":2`) || strings.Contains(m, `"online":false`) {
			t.Errorf("a forged batch took effect: user 1 was told %s (all: %v)", m, told)
		}
	}
	// One line a second for the kind: the first forgery's.
	waitLog(t, logs, "dropped an event batch whose gw is not its subject's", "subject=alo.events.g1", "gw=g2")
}
