// Command backend is an example of a deployment's backend talking to ALO
// over NATS (docs/OPERATIONS.md): it asks presence which of some users are
// online, follows the change feed, and kicks a user.
//
//	go run ./examples/backend --nats nats://127.0.0.1:4222 --token "$TOKEN" --users 1,2,3 --kick 3
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/alo-presence/alo/shared"
)

func main() {
	url := flag.String("nats", nats.DefaultURL, "NATS server URL")
	token := flag.String("token", os.Getenv("ALO_NATS_TOKEN"), "NATS token (alo --nats-listen prints one)")
	users := flag.String("users", "1,2,3", "user ids to query, comma-separated")
	kick := flag.Int64("kick", 0, "a user id to kick (0: none)")
	flag.Parse()
	nc, err := nats.Connect(*url, nats.Token(*token))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	subjects := shared.MustSubjects("")

	// Follow the change feed: every transition of every user, once.
	if _, err := nc.Subscribe(subjects.ChangesAll(), func(m *nats.Msg) {
		var c shared.ChangeV1
		if shared.UnmarshalChange(m.Data, &c) == nil {
			log.Printf("change: user %d %s (reason %q, version %d, at %s)", c.UserID, c.Status, c.Reason, c.Version, c.At.Format(time.RFC3339))
		}
	}); err != nil {
		log.Fatal(err)
	}

	// Who of these is online?
	var q shared.QueryRequestV1
	for _, s := range strings.Split(*users, ",") {
		if id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			q.UserIDs = append(q.UserIDs, id)
		}
	}
	var resp shared.QueryResponseV1
	call(nc, subjects.PresenceService()+".query", q, &resp)
	for _, u := range resp.Users {
		log.Printf("query: user %d online=%v sessions=%d", u.UserID, u.Online, u.Sessions)
	}

	// Kick one.
	if *kick > 0 {
		var k shared.KickResponseV1
		call(nc, subjects.PresenceService()+".kick", shared.KickRequestV1{UserID: *kick, Message: "kicked by the example backend"}, &k)
		log.Printf("kick: user %d, %d sessions on %d gateways", k.UserID, k.Sessions, k.Gateways)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
}

// call sends a request to a presence endpoint and decodes its answer;
// a micro error (400, 503) is in the headers.
func call(nc *nats.Conn, subject string, req, resp any) {
	data, _ := json.Marshal(req)
	m, err := nc.Request(subject, data, 2*time.Second)
	if err != nil {
		log.Fatalf("%s: %v", subject, err)
	}
	if code := m.Header.Get(micro.ErrorCodeHeader); code != "" {
		log.Fatalf("%s: %s %s", subject, code, m.Header.Get(micro.ErrorHeader))
	}
	if err := json.Unmarshal(m.Data, resp); err != nil {
		log.Fatalf("%s: %v", subject, err)
	}
}
