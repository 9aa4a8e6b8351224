package presence

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/goccy/go-json"
	"github.com/nats-io/nats.go/micro"

	"github.com/alo-presence/alo/shared"
)

// The presence service on NATS for backends and operators: a `nats micro`
// service (PING, INFO and STATS come with it) with the endpoints query and
// kick (shared/backend.go has the wire types, docs/OPERATIONS.md the
// interface). The state is the Run loop's alone, so a handler, which runs
// on a NATS goroutine, only checks the request and hands it to the loop
// through a bounded channel, then waits for the loop's answer and responds
// (micro wants the response from its handler: it counts errors and time
// after the handler returns). A full channel answers "busy" at once: a
// flood of requests costs the loop nothing.

// requestQueue bounds the requests waiting for the Run loop, and
// requestWait how long a handler waits for its answer.
const (
	requestQueue = 256
	requestWait  = 5 * time.Second
)

type backendRequest struct {
	query  []int64               // for query
	kick   *shared.KickRequestV1 // for kick
	answer chan backendAnswer    // buffered: the loop never waits on it
}

// backendAnswer is the loop's answer: a body, or a micro error.
type backendAnswer struct {
	body       any
	code, desc string
}

// startMicro adds the micro service on s.nc. Its handlers feed s.requests.
func (s *Service) startMicro() (micro.Service, error) {
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        shared.ServiceName,
		Version:     serviceVersion(shared.Version),
		Description: "ALO presence: who is online, and kicking users",
		Metadata:    map[string]string{"prefix": s.cfg.Prefix, "instance": s.cfg.Instance, "commit": shared.Commit},
	})
	if err != nil {
		return nil, fmt.Errorf("presence: micro service: %w", err)
	}
	g := svc.AddGroup(s.subjects.PresenceService())
	if err := g.AddEndpoint("query", micro.HandlerFunc(s.handleQuery),
		micro.WithEndpointMetadata(map[string]string{"request": "QueryRequestV1", "response": "QueryResponseV1",
			"max_user_ids": fmt.Sprint(shared.MaxQueryUsers)})); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("presence: micro endpoint: %w", err)
	}
	if err := g.AddEndpoint("kick", micro.HandlerFunc(s.handleKick),
		micro.WithEndpointMetadata(map[string]string{"request": "KickRequestV1", "response": "KickResponseV1"})); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("presence: micro endpoint: %w", err)
	}
	return svc, nil
}

var semver = regexp.MustCompile(`^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$`)

// serviceVersion is the build's version as micro wants it, SemVer: a
// development build ("dev") is 0.0.0-dev.
func serviceVersion(v string) string {
	if m := semver.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	clean := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, v)
	if clean == "" {
		clean = "unknown"
	}
	return "0.0.0-" + clean
}

func badRequest(r micro.Request, why string) { _ = r.Error(shared.ServiceBadRequest, why, nil) }

func (s *Service) handleQuery(r micro.Request) {
	var q shared.QueryRequestV1
	if err := json.Unmarshal(r.Data(), &q); err != nil {
		badRequest(r, "the request is not a JSON QueryRequestV1: "+err.Error())
		return
	}
	if len(q.UserIDs) > shared.MaxQueryUsers {
		badRequest(r, fmt.Sprintf("at most %d user ids per query, got %d", shared.MaxQueryUsers, len(q.UserIDs)))
		return
	}
	for _, id := range q.UserIDs {
		if id <= 0 {
			badRequest(r, fmt.Sprintf("user id %d is not positive", id))
			return
		}
	}
	s.toLoop(r, backendRequest{query: q.UserIDs})
}

func (s *Service) handleKick(r micro.Request) {
	var k shared.KickRequestV1
	switch err := json.Unmarshal(r.Data(), &k); {
	case err != nil:
		badRequest(r, "the request is not a JSON KickRequestV1: "+err.Error())
	case k.UserID <= 0:
		badRequest(r, "user_id must be a positive integer")
	case len(k.Message) > shared.MaxKickMessage || !utf8.ValidString(k.Message):
		badRequest(r, fmt.Sprintf("message must be valid UTF-8 of at most %d bytes", shared.MaxKickMessage))
	default:
		s.toLoop(r, backendRequest{kick: &k})
	}
}

// toLoop hands a checked request to the Run loop and responds with its
// answer, or answers busy.
func (s *Service) toLoop(r micro.Request, req backendRequest) {
	if s.standby.Load() {
		_ = r.Error(shared.ServiceUnavailable, "standing by: another presence serves this prefix", nil)
		return
	}
	req.answer = make(chan backendAnswer, 1)
	select {
	case s.requests <- req:
	default:
		_ = r.Error(shared.ServiceUnavailable, "busy: too many requests waiting, retry", nil)
		return
	}
	wait := time.NewTimer(requestWait)
	defer wait.Stop()
	select {
	case a := <-req.answer:
		if a.code != "" {
			_ = r.Error(a.code, a.desc, nil)
			return
		}
		_ = r.RespondJSON(a.body)
	case <-wait.C:
		_ = r.Error(shared.ServiceUnavailable, "busy: no answer in time, retry", nil)
	case <-s.stopped:
		_ = r.Error(shared.ServiceUnavailable, "presence is stopping", nil)
	}
}

// serveRequest answers a request from the Run loop, which owns st.
func (s *Service) serveRequest(st *ledger, out *publisher, req backendRequest) {
	switch {
	case s.standby.Load(): // it began to stand by since the handler looked
		req.answer <- backendAnswer{code: shared.ServiceUnavailable, desc: "standing by: another presence serves this prefix"}
		return
	case st.rebuilding:
		req.answer <- backendAnswer{code: shared.ServiceUnavailable, desc: "rebuilding after a start: retry in a moment"}
		return
	}
	if req.kick != nil {
		req.answer <- backendAnswer{body: kickUser(st, out, req.kick)}
		return
	}
	resp := shared.QueryResponseV1{Users: make([]shared.UserPresenceV1, len(req.query))}
	for i, id := range req.query {
		p := shared.UserPresenceV1{UserID: id}
		if u := st.idx.users[id]; u != nil {
			// Online as watchers see it; the status as it is (a backend
			// may know a user is invisible).
			p.Online, p.Status, p.Text, p.Sessions = u.shown, u.status.String(), u.text, len(u.sessions)
		}
		if !p.Online {
			if t, ok := st.idx.lastSeen.LastSeen(id); ok {
				at := t.UTC()
				p.LastSeen = &at
			}
		}
		resp.Users[i] = p
	}
	req.answer <- backendAnswer{body: &resp}
}

// kickUser tells every gateway holding a session of the user to end them.
// Their close events, marked "kicked", take the user offline.
func kickUser(st *ledger, out *publisher, k *shared.KickRequestV1) shared.KickResponseV1 {
	resp := shared.KickResponseV1{UserID: k.UserID}
	u := st.idx.users[k.UserID]
	if u == nil {
		return resp
	}
	for _, g := range st.gateways {
		n := 0
		for _, sess := range u.sessions {
			if g.sessions[sess.id] == sess {
				n++
			}
		}
		if n == 0 {
			continue
		}
		resp.Sessions += n
		resp.Gateways++
		out.end()
		data, _ := shared.MarshalControl(&shared.Control{Kicks: []shared.Kick{{User: k.UserID, Message: k.Message}}})
		out.publish(st.idx.subjects.Gateway(g.id), data)
	}
	return resp
}
