package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alo-presence/alo/internal/natssecrets"
	"github.com/alo-presence/alo/shared"
)

var (
	flagNATS    = flag.String("nats", "", "NATS client URL published on the host (nats://127.0.0.1:4222); the bus checks run when set")
	flagSecrets = flag.String("secrets", "", "directory of the stack's NATS passwords (deploy/natssecrets), for the bus checks")
)

// natsErrors keeps a connection's asynchronous errors: NATS reports a
// refused publish or subscription that way.
type natsErrors struct {
	mu   sync.Mutex
	errs []string
}

func (e *natsErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err.Error())
	e.mu.Unlock()
}

// refused waits for NATS to report a permissions violation for op
// ("publish to", "subscription to") on subject.
func (e *natsErrors) refused(op, subject string) (string, bool) {
	want := strings.ToLower(`permissions violation for ` + op + ` "` + subject + `"`)
	deadline := time.Now().Add(*flagDeadline)
	for {
		e.mu.Lock()
		for _, s := range e.errs {
			if strings.Contains(strings.ToLower(s), want) {
				e.mu.Unlock()
				return s, true
			}
		}
		e.mu.Unlock()
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type login struct {
	user string
	nc   *nats.Conn
	errs *natsErrors
}

func loginAs(user string) (*login, error) {
	pw, err := natssecrets.Password(*flagSecrets, user)
	if err != nil {
		return nil, err
	}
	l := &login{user: user, errs: &natsErrors{}}
	l.nc, err = nats.Connect(*flagNATS, nats.UserInfo(user, pw), nats.Name("composecheck "+user),
		nats.ErrorHandler(l.errs.handler), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("log in to NATS as %s: %w", user, err)
	}
	return l, nil
}

// forbid publishes data on subject as l and checks NATS refuses it.
func (l *login) forbid(subject string, data []byte, what string) {
	if err := l.nc.Publish(subject, data); err != nil {
		fail("%s: publishing as %s failed on the client side: %v", what, l.user, err)
		return
	}
	l.nc.Flush()
	e, ok := l.errs.refused("publish to", subject)
	check(ok, "%s: refused by NATS for %s (%s)", what, l.user, e)
}

func (l *login) forbidSub(subject, what string) {
	if _, err := l.nc.SubscribeSync(subject); err != nil {
		fail("%s: subscribing as %s failed on the client side: %v", what, l.user, err)
		return
	}
	l.nc.Flush()
	e, ok := l.errs.refused("subscription to", subject)
	check(ok, "%s: refused by NATS for %s (%s)", what, l.user, e)
}

// checkBus proves the stack's NATS authorization from outside, repeating
// the forgeries of issue 11 against it: no login, reading everything, a
// forged state message, another gateway's events, a forged control message,
// a fake error to a client, an oversized message. Each gateway container
// must have logged in as gw-<its number>. clients are connected and see
// each other.
func checkBus(gws []container, clients []*client) error {
	step("the bus: NATS authorization, from outside (%s)", *flagNATS)
	subjects := shared.MustSubjects("")
	nc, err := nats.Connect(*flagNATS, nats.NoReconnect(), nats.Timeout(5*time.Second))
	if err == nil {
		nc.Close()
	}
	check(errors.Is(err, nats.ErrAuthorization), "a NATS client without credentials is refused (%v)", err)
	nc, err = nats.Connect(*flagNATS, nats.UserInfo("gw-1", "not-the-password"), nats.NoReconnect(), nats.Timeout(5*time.Second))
	if err == nil {
		nc.Close()
	}
	check(errors.Is(err, nats.ErrAuthorization), "gw-1 with a wrong password is refused (%v)", err)

	if *flagMonitor != "" {
		checkGatewayUsers(gws)
	}

	gw1, err := loginAs("gw-1")
	if err != nil {
		return err
	}
	defer gw1.nc.Close()
	backend, err := loginAs("backend")
	if err != nil {
		return err
	}
	defer backend.nc.Close()
	observer, err := loginAs("observer")
	if err != nil {
		return err
	}
	defer observer.nc.Close()

	// A victim on gateway 2 and a watcher on gateway 1.
	var victim, watcher *client
	for _, c := range clients {
		if c.gw.Number == 2 && victim == nil {
			victim = c
		}
		if c.gw.Number == 1 && watcher == nil {
			watcher = c
		}
	}
	if victim == nil || watcher == nil {
		return errors.New("the bus checks need clients on gateways 1 and 2")
	}
	victim.mu.Lock()
	sid := victim.session
	victim.mu.Unlock()

	gw1.forbidSub(">", "reading everything on the bus (>) with a gateway's credentials")
	observer.forbidSub("alo.>", "reading every friend list and transition (alo.>) with the observer's")
	backend.forbidSub(subjects.AllEvents(), "reading every gateway's events with the backend's")
	gw1.forbid(subjects.User(victim.id), shared.AppendState(nil, watcher.id, false),
		fmt.Sprintf("a state message to user %d (%s is offline) with a gateway's credentials", victim.id, watcher))
	backend.forbid(subjects.User(victim.id), []byte(`{"error":"shutdown","message":"log in at http://evil.example/"}`),
		fmt.Sprintf("a fake shutdown error to user %d on its user subject with the backend's credentials", victim.id))
	bye, _ := shared.MarshalBatch(&shared.Batch{Gateway: "gw-2", Boot: "forged", Events: []shared.Event{{Type: shared.EventBye}}})
	gw1.forbid(subjects.Events("gw-2"), bye, "gw-2's events (a forged bye) with gw-1's credentials")
	ctl, _ := shared.MarshalControl(&shared.Control{Sessions: []shared.SessionState{{Session: sid, Online: []int64{999}, Offline: []int64{watcher.id}}}})
	gw1.forbid(subjects.Gateway("gw-2"), ctl, "a control message to gw-2 (a stranger online, a friend offline) with gw-1's credentials")
	gw1.forbid(subjects.Push(victim.id), []byte(`{"a":1}`), "a push with a gateway's credentials")
	gw1.forbid(subjects.PresenceUp(), nil, "presence's announcement (every gateway resends) with a gateway's credentials")
	gw1.forbid(subjects.GatewayClaim("gw-2"), nil, "gw-2's id claim with gw-1's credentials")
	observer.forbid(subjects.Push(victim.id), []byte(`{"a":1}`), "a push with the observer's credentials")
	// gw-1 may publish under its own id only; a batch there that names gw-2
	// is dropped by presence (its subject says gw-1).
	if err := gw1.nc.Publish(subjects.Events("gw-1"), bye); err != nil {
		fail("gw-1 publishing on its own events subject: %v", err)
	}

	// The backend's pushes: the fake error arrives as a push, an oversized
	// one is dropped without cutting the user off.
	fake := `{"error":"shutdown","message":"log in at http://evil.example/"}`
	if err := backend.nc.Publish(subjects.Push(victim.id), []byte(fake)); err != nil {
		return err
	}
	big := []byte(`{"pad":"` + strings.Repeat("x", 512<<10) + `"}`)
	if err := backend.nc.Publish(subjects.Push(victim.id), big); err != nil {
		return err
	}
	err = backend.nc.Publish(subjects.Push(victim.id), make([]byte, 2<<20))
	check(errors.Is(err, nats.ErrMaxPayload), "a 2 MiB publish is refused by the NATS client (over max_payload): %v", err)
	for _, c := range []*client{victim, watcher} {
		if err := backend.nc.Publish(subjects.Push(c.id), []byte(`{"barrier":true}`)); err != nil {
			return err
		}
	}
	backend.nc.Flush()
	for _, c := range []*client{victim, watcher} {
		got := c.waitFor(*flagDeadline, func() bool {
			return len(c.pushes) > 0 && c.pushes[len(c.pushes)-1] == `{"push":{"barrier":true}}`
		})
		check(got, "%s receives the backend's push as {\"push\":...} (%s)", c, c.state())
	}
	victim.mu.Lock()
	pushes, errs, eof := victim.pushes, victim.errs, victim.eof
	watcherSeen := victim.view[watcher.id]
	victim.mu.Unlock()
	check(len(pushes) == 2 && pushes[0] == `{"push":`+fake+`}`,
		"%s got the fake error only wrapped, as a push, and not the 512 KiB one: %q", victim, pushes)
	check(len(errs) == 0 && eof.IsZero() && watcherSeen,
		"%s is still connected, was sent no error, still sees %d online (%s)", victim, watcher.id, victim.state())
	// Presence says it dropped the forged bye; only then does the watcher's
	// view prove it had no effect.
	const dropped = "dropped an event batch whose gw is not its subject's"
	deadline := time.Now().Add(*flagDeadline)
	var logs string
	for {
		logs, _ = compose("logs", "--no-color", "presence")
		if strings.Contains(logs, dropped) && strings.Contains(logs, "alo.events.gw-1") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	check(strings.Contains(logs, dropped), "presence logged %q for the batch on alo.events.gw-1 that names gw-2", dropped)
	watcher.mu.Lock()
	victimSeen := watcher.view[victim.id]
	watcher.mu.Unlock()
	check(victimSeen, "%s still sees user %d online: the forged bye on gw-1's subject naming gw-2 was dropped (%s)", watcher, victim.id, watcher.state())
	return nil
}

// checkGatewayUsers checks, from NATS monitoring, that each gateway
// container logged in as gw-<its compose number> under that id.
func checkGatewayUsers(gws []container) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get("http://" + *flagMonitor + "/connz?auth=true&limit=1024")
	if err != nil {
		fail("NATS /connz: %v", err)
		return
	}
	defer resp.Body.Close()
	var connz struct {
		Connections []struct {
			Name string `json:"name"`
			User string `json:"authorized_user"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		fail("NATS /connz: %v", err)
		return
	}
	users := map[string]string{}
	for _, c := range connz.Connections {
		users[c.Name] = c.User
	}
	for _, g := range gws {
		id := fmt.Sprint("gw-", g.Number)
		got, ok := users["alo-gateway "+id]
		check(ok && got == id, "%s (replica %d) is gateway %s logged in to NATS as user %q", g.Name, g.Number, id, got)
	}
	check(users["alo-presence"] == "presence", "presence logged in to NATS as user %q", users["alo-presence"])
}
