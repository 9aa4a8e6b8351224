package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/alo-presence/alo/internal/alotest"
	"github.com/alo-presence/alo/shared"
)

// The NATS CLI sees presence's micro service: `nats micro ls` lists it and
// `nats micro info` shows its endpoints. Skipped without the CLI on PATH
// (go install github.com/nats-io/natscli/nats@v0.5.0); the micro client API
// tests in presence/ cover the same without it.
func TestNATSCLIListsPresence(t *testing.T) {
	cli, err := exec.LookPath("nats")
	if err != nil {
		t.Skip("no nats CLI on PATH (go install github.com/nats-io/natscli/nats@v0.5.0)")
	}
	ns := alotest.NATS(t)
	url := ns.ClientURL()
	alotest.Start(t, "presence", "--nats", url, "--rebuild", "1ms")
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(cli, append([]string{"--server", url, "--no-context"}, args...)...).Output()
		if err != nil {
			t.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	var names []string
	alotest.WaitFor(t, alotest.Timeout, "nats micro ls to list "+shared.ServiceName, func() bool {
		out, err := exec.Command(cli, "--server", url, "--no-context", "micro", "ls", "--json").Output()
		var list []struct {
			Name string `json:"name"`
		}
		if err != nil || json.Unmarshal(out, &list) != nil {
			return false
		}
		names = names[:0]
		for _, s := range list {
			names = append(names, s.Name)
		}
		return len(names) == 1 && names[0] == shared.ServiceName
	})
	var out struct {
		Info struct {
			Endpoints []struct {
				Subject string `json:"subject"`
			} `json:"endpoints"`
		} `json:"info"`
	}
	if err := json.Unmarshal(run("micro", "info", shared.ServiceName, "--json"), &out); err != nil {
		t.Fatal(err)
	}
	if e := out.Info.Endpoints; len(e) != 2 || e[0].Subject != "alo.presence.query" || e[1].Subject != "alo.presence.kick" {
		t.Errorf("nats micro info: endpoints %+v", e)
	}
}
