package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/alo-presence/alo/internal/cli"
)

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// /healthz says ok and nothing else; /readyz lists every failing check and
// the warnings, and fails only on the checks; counts are on /debug, only
// when asked for.
func TestHealthEndpoints(t *testing.T) {
	var ready error
	warn := []error{errors.New("jwt keys: bad file")}
	stats := func() any { return map[string]int{"sessions": 3} }
	h := cli.Health{Ready: func(context.Context) error { return ready }, Warnings: func() []error { return warn }}
	off := httptest.NewServer(cli.HealthMux(h))
	defer off.Close()
	h.Stats = stats
	on := httptest.NewServer(cli.HealthMux(h))
	defer on.Close()

	if code, body := getJSON(t, off.URL+"/healthz"); code != 200 || !reflect.DeepEqual(body, map[string]any{"status": "ok"}) {
		t.Errorf("/healthz: %d %v", code, body)
	}
	code, body := getJSON(t, off.URL+"/readyz")
	if code != 200 || body["status"] != "ready" || !reflect.DeepEqual(body["warnings"], []any{"jwt keys: bad file"}) || body["stats"] != nil {
		t.Errorf("/readyz ready with a warning: %d %v", code, body)
	}
	ready = errors.Join(errors.New("gateway: not connected to nats"), errors.New("gateway: presence does not answer"))
	code, body = getJSON(t, off.URL+"/readyz")
	if code != 503 || body["status"] != "not ready" ||
		!reflect.DeepEqual(body["failing"], []any{"gateway: not connected to nats", "gateway: presence does not answer"}) {
		t.Errorf("/readyz failing: %d %v", code, body)
	}
	if resp, err := http.Get(off.URL + "/debug"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("/debug without --debug: %v %v", resp.Status, err)
	}
	if code, body := getJSON(t, on.URL+"/debug"); code != 200 || body["sessions"] != 3.0 {
		t.Errorf("/debug: %d %v", code, body)
	}
}
