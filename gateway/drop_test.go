package gateway_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/shared"
)

// When NATS drops messages for one of the gateway's subscriptions (a slow
// consumer), a session may have missed a state: the gateway resends its
// sessions so that presence can correct them.
func TestDroppedMessagesTriggerResync(t *testing.T) {
	ns := alotest.NATS(t)
	gwConn := alotest.Conn(t, ns)
	_, addr, _ := alotest.GatewayOn(t, gwConn, gateway.Config{})
	watch := alotest.Conn(t, ns)
	events := make(chan *nats.Msg, 100)
	if _, err := watch.ChanSubscribe(shared.MustSubjects("").AllEvents(), events); err != nil {
		t.Fatal(err)
	}
	watch.Flush()
	// A session to resend; once its open is seen, the gateway's start-up
	// resync is behind us.
	alotest.Dial(t, addr).Send(alotest.Hello(1))
	awaitEvent(t, events, shared.EventOpen)

	// The gateway's own connection reports a slow consumer, as nats.go
	// does when a subscription's channel is full.
	gwConn.ErrorHandler()(gwConn, nil, nats.ErrSlowConsumer)

	awaitEvent(t, events, shared.EventSyncBegin)
}

// awaitEvent reads gateway event batches until one holds an event of type
// typ.
func awaitEvent(t *testing.T, events chan *nats.Msg, typ shared.EventType) {
	t.Helper()
	deadline := time.After(alotest.Timeout)
	for {
		select {
		case m := <-events:
			var b shared.Batch
			if err := shared.UnmarshalBatch(m.Data, &b); err != nil {
				t.Fatal(err)
			}
			for _, ev := range b.Events {
				if ev.Type == typ {
					return
				}
			}
		case <-deadline:
			t.Fatalf("no %s event", typ)
		}
	}
}
