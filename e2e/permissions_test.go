package e2e

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// permErrors collects a connection's asynchronous errors.
type permErrors struct {
	mu   sync.Mutex
	errs []string
}

func (p *permErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	p.mu.Lock()
	p.errs = append(p.errs, err.Error())
	p.mu.Unlock()
}

// has reports whether a permissions violation for op ("Publish to",
// "Subscription to") on subject was reported.
func (p *permErrors) has(op, subject string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		if strings.Contains(strings.ToLower(e), "permissions violation for "+strings.ToLower(op)+` "`+strings.ToLower(subject)+`"`) {
			return true
		}
	}
	return false
}

// Every role's credentials, against a NATS server configured with the
// compose stack's deploy/nats.conf, can do what its row of PROTOCOL.md's
// permissions table says and nothing else: each user subscribes to and
// publishes on each subject of a list covering every role's, and each
// allowed publish reaches a subscriber allowed to read it, each refused one
// is refused by NATS (a permissions violation, asserted) and reaches nobody.
// Among the refusals: a gateway publishing a state message, another
// gateway's events or claim, a push, a control message or an announcement;
// a backend publishing a state message; an observer publishing anything but
// a ping. An unauthenticated client and a wrong password are refused.
func TestRolePermissions(t *testing.T) {
	ns := alotest.NATSSecure(t)
	table := alotest.PermissionsTable(t)

	for _, opts := range [][]nats.Option{nil, {nats.UserInfo("gw-1", "wrong")}, {nats.UserInfo("nobody", "x")}} {
		nc, err := nats.Connect(ns.ClientURL(), append(opts, nats.NoReconnect())...)
		if err == nil {
			nc.Close()
			t.Fatalf("connected with %d login options; want refused", len(opts))
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("refused with %v, want an authorization violation", err)
		}
	}

	users := []string{"presence", "backend", "observer", "gw-1", "gw-2"}
	subjects := []string{
		"alo.events.gw-1", "alo.events.gw-2", "alo.gw.gw-1", "alo.gw.gw-2", "alo.user.7", "alo.push.7",
		"alo.presence.up", "alo.presence.ping", "alo.claim.gw.gw-1", "alo.claim.gw.gw-2",
		"_INBOX.perm.1", "alo.changes.7", "alo.other", "$SYS.REQ.SERVER.PING",
	}
	type key struct{ user, subject string }
	conns := map[string]*nats.Conn{}
	errs := map[string]*permErrors{}
	subs := map[key]chan *nats.Msg{}
	for _, u := range users {
		if _, ok := table[u]; !ok {
			t.Fatalf("user %s not in the table", u)
		}
		errs[u] = &permErrors{}
		conns[u] = ns.ConnAs(t, u, nats.ErrorHandler(errs[u].handler))
		for _, s := range subjects {
			ch := make(chan *nats.Msg, 64)
			if _, err := conns[u].ChanSubscribe(s, ch); err != nil {
				t.Fatal(err)
			}
			subs[key{u, s}] = ch
		}
		if err := conns[u].Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// Subscriptions: refused where the row does not allow them.
	for _, u := range users {
		for _, s := range subjects {
			if alotest.Allowed(table[u].Subscribe, s) {
				continue
			}
			alotest.WaitFor(t, alotest.Timeout, fmt.Sprintf("%s refused subscribing to %s", u, s), func() bool {
				return errs[u].has("Subscription to", s)
			})
		}
	}
	// Publishes: each allowed one reaches every allowed subscriber; each
	// refused one is reported.
	for _, u := range users {
		for _, s := range subjects {
			payload := u + " → " + s
			if err := conns[u].Publish(s, []byte(payload)); err != nil {
				t.Fatal(err)
			}
			if !alotest.Allowed(table[u].Publish, s) {
				alotest.WaitFor(t, alotest.Timeout, fmt.Sprintf("%s refused publishing to %s", u, s), func() bool {
					return errs[u].has("Publish to", s)
				})
				continue
			}
			if errs[u].has("Publish to", s) {
				t.Errorf("%s refused publishing to %s, which its row allows", u, s)
			}
			readers := 0
			for _, r := range users {
				if !alotest.Allowed(table[r].Subscribe, s) {
					continue
				}
				readers++
				select {
				case m := <-subs[key{r, s}]:
					if string(m.Data) != payload {
						t.Errorf("%s on %s got %q, want %q", r, s, m.Data, payload)
					}
				case <-time.After(alotest.Timeout):
					t.Errorf("%s's publish to %s did not reach %s", u, s, r)
				}
			}
			if readers == 0 {
				t.Errorf("%s may publish to %s, which no role may read", u, s)
			}
		}
	}
	// Nothing refused reached anyone.
	for _, u := range users {
		conns[u].Flush()
	}
	for k, ch := range subs {
		select {
		case m := <-ch:
			t.Errorf("%s received %q on %s, which should have been refused", k.user, m.Data, k.subject)
		default:
		}
	}
	t.Logf("%d users × %d subjects, subscribe and publish", len(users), len(subjects))
}

// The whole system on a NATS server with the compose stack's permissions:
// presence logged in as presence, gateways as gw-1 and gw-2 (their ids),
// a backend as backend. Friends on different gateways see each other come
// and go; the backend's push reaches the user as {"push":...}; a state
// message published with a gateway's credentials is refused by NATS and
// never reaches the client.
func TestSecureStack(t *testing.T) {
	ns := alotest.NATSSecure(t)
	alotest.PresenceOn(t, ns.ConnAs(t, "presence"), presence.Config{})
	gw1 := ns.ConnAs(t, "gw-1")
	_, a, _ := alotest.GatewayOn(t, gw1, gateway.Config{ID: "gw-1"})
	_, b, _ := alotest.GatewayOn(t, ns.ConnAs(t, "gw-2"), gateway.Config{ID: "gw-2"})

	c1, snap := alotest.Connect(t, a, 1, 2)
	if len(snap) != 0 {
		t.Fatalf("snapshot %v, want none", snap)
	}
	c2, snap := alotest.Connect(t, b, 2, 1)
	if len(snap) != 1 || snap[0] != 1 {
		t.Fatalf("snapshot %v, want [1]", snap)
	}
	c1.ExpectState(2, true)

	forger := &permErrors{}
	forged := ns.ConnAs(t, "gw-1", nats.ErrorHandler(forger.handler))
	subjects := shared.MustSubjects("")
	forged.Publish(subjects.User(1), []byte(`{"user_id":2,"online":false}`))
	alotest.WaitFor(t, alotest.Timeout, "the gateway's credentials refused a state message", func() bool {
		return forger.has("Publish to", subjects.User(1))
	})
	backend := ns.ConnAs(t, "backend")
	if err := backend.Publish(subjects.Push(1), []byte(`{"hello":1}`)); err != nil {
		t.Fatal(err)
	}
	if m := c1.Next(); m.Raw != `{"push":{"hello":1}}` {
		t.Fatalf("got %s, want the push (and no forged state before it)", m)
	}
	c2.Close()
	c1.ExpectState(2, false)
}
