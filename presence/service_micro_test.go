package presence_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/alo-presence/alo/gateway"
	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/presence"
	"github.com/alo-presence/alo/shared"
)

// request sends a request to a presence service endpoint, and returns the
// answer with its micro error code ("" for none).
func request(t *testing.T, nc *nats.Conn, endpoint string, body string) (*nats.Msg, string) {
	t.Helper()
	m, err := nc.Request(shared.MustSubjects("").PresenceService()+"."+endpoint, []byte(body), alotest.Timeout)
	if err != nil {
		t.Fatalf("%s: %v", endpoint, err)
	}
	return m, m.Header.Get(micro.ErrorCodeHeader)
}

// Presence is a nats micro service: PING, INFO and STATS answer, and query
// says who is online, refusing bad requests with micro error headers.
func TestPresenceMicroService(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addr, _ := alotest.Gateway(t, ns, gateway.Config{})
	nc := alotest.Conn(t, ns)

	for _, verb := range []micro.Verb{micro.PingVerb, micro.InfoVerb, micro.StatsVerb} {
		subject, err := micro.ControlSubject(verb, shared.ServiceName, "")
		if err != nil {
			t.Fatal(err)
		}
		m, err := nc.Request(subject, nil, alotest.Timeout)
		if err != nil {
			t.Fatalf("%v: %v", verb, err)
		}
		var id micro.ServiceIdentity
		if err := json.Unmarshal(m.Data, &id); err != nil || id.Name != shared.ServiceName || id.Version == "" {
			t.Fatalf("%v answered %s (%v)", verb, m.Data, err)
		}
		if verb == micro.InfoVerb {
			var info micro.Info
			_ = json.Unmarshal(m.Data, &info)
			var subjects []string
			for _, e := range info.Endpoints {
				subjects = append(subjects, e.Subject)
			}
			if strings.Join(subjects, " ") != "alo.presence.query alo.presence.kick" {
				t.Errorf("endpoints: %v", subjects)
			}
		}
	}

	alotest.Connect(t, addr, 1)
	alotest.Connect(t, addr, 2)
	alotest.Connect(t, addr, 2) // a second session of user 2
	m, code := request(t, nc, "query", `{"user_ids": [1, 2, 3]}`)
	if code != "" {
		t.Fatalf("query: error %s %s", code, m.Header.Get(micro.ErrorHeader))
	}
	var resp shared.QueryResponseV1
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		t.Fatal(err)
	}
	want := []shared.UserPresenceV1{
		{UserID: 1, Online: true, Status: "online", Sessions: 1},
		{UserID: 2, Online: true, Status: "online", Sessions: 2},
		{UserID: 3}, // unknown: offline
	}
	if len(resp.Users) != len(want) {
		t.Fatalf("query answered %s", m.Data)
	}
	for i := range want {
		if resp.Users[i] != want[i] {
			t.Errorf("user %d: %+v, want %+v", want[i].UserID, resp.Users[i], want[i])
		}
	}

	tooMany := `{"user_ids": [` + strings.Repeat("1,", shared.MaxQueryUsers) + `1]}`
	for name, body := range map[string]string{
		"not json":     `hello`,
		"wrong type":   `{"user_ids": "1"}`,
		"too many ids": tooMany,
		"zero id":      `{"user_ids": [0]}`,
		"negative id":  `{"user_ids": [5, -1]}`,
		"kick no user": `{"message": "x"}`,
	} {
		endpoint := "query"
		if strings.HasPrefix(name, "kick") {
			endpoint = "kick"
		}
		m, code := request(t, nc, endpoint, body)
		if code != shared.ServiceBadRequest || m.Header.Get(micro.ErrorHeader) == "" {
			t.Errorf("%s: code %q, error %q, body %s", name, code, m.Header.Get(micro.ErrorHeader), m.Data)
		}
	}
	// The service still answers after bad requests.
	if _, code := request(t, nc, "query", `{"user_ids": []}`); code != "" {
		t.Errorf("empty query: error %s", code)
	}
}

// A kick from a backend reaches every session of the user, on every
// gateway: each is told "kicked" and closed, and the user's watchers see
// them go offline. Nobody else is touched.
func TestKickReachesEveryGateway(t *testing.T) {
	ns := alotest.NATS(t)
	alotest.Presence(t, ns, presence.Config{})
	_, addr1, _ := alotest.Gateway(t, ns, gateway.Config{ID: "gw-1"})
	_, addr2, _ := alotest.Gateway(t, ns, gateway.Config{ID: "gw-2"})
	watcher, _ := alotest.Connect(t, addr1, 10, 1, 2)
	s1, _ := alotest.Connect(t, addr1, 1)
	watcher.ExpectState(1, true)
	s2, _ := alotest.Connect(t, addr2, 1)
	other, _ := alotest.Connect(t, addr2, 2)
	watcher.ExpectState(2, true)

	nc := alotest.Conn(t, ns)
	m, code := request(t, nc, "kick", `{"user_id": 1, "message": "account suspended"}`)
	if code != "" {
		t.Fatalf("kick: error %s %s", code, m.Header.Get(micro.ErrorHeader))
	}
	var resp shared.KickResponseV1
	if err := json.Unmarshal(m.Data, &resp); err != nil || resp != (shared.KickResponseV1{UserID: 1, Sessions: 2, Gateways: 2}) {
		t.Fatalf("kick answered %s (%v)", m.Data, err)
	}
	for _, c := range []*alotest.Client{s1, s2} {
		if e := c.ExpectError(shared.CodeKicked); e.Message != "account suspended" {
			t.Errorf("kick message %q", e.Message)
		}
		c.ExpectClosed()
	}
	watcher.ExpectState(1, false)
	// User 2 is untouched, and a kick of a user who is not online does nothing.
	m, _ = request(t, nc, "kick", `{"user_id": 1}`)
	if err := json.Unmarshal(m.Data, &resp); err != nil || resp.Sessions != 0 {
		t.Errorf("second kick answered %s", m.Data)
	}
	m, _ = request(t, nc, "query", `{"user_ids": [1, 2]}`)
	var q shared.QueryResponseV1
	_ = json.Unmarshal(m.Data, &q)
	if len(q.Users) != 2 || q.Users[0].Online || !q.Users[1].Online {
		t.Errorf("after the kick: %s", m.Data)
	}
	other.ExpectQuiet(100 * time.Millisecond)
}
