package alotest_test

import (
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/alo-presence/alo/internal/alotest"
)

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func allowOnly(t *testing.T, what string, p *server.SubjectPermission) []string {
	t.Helper()
	if p == nil {
		return nil
	}
	if len(p.Deny) > 0 {
		t.Errorf("%s: deny %v; the table says what is allowed only", what, p.Deny)
	}
	return p.Allow
}

// PROTOCOL.md's permissions table is what the compose stack's NATS server
// enforces: deploy/nats.conf, read by nats-server's own parser, has exactly
// the table's users, each allowed exactly its row's subjects.
func TestPermissionsTableMatchesCompose(t *testing.T) {
	table := alotest.PermissionsTable(t)
	conf, _ := alotest.ComposeNATSConfig(t)
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("deploy/nats.conf: %v", err)
	}
	if opts.Username != "" || opts.Authorization != "" || opts.NoAuthUser != "" || len(opts.Nkeys) > 0 {
		t.Errorf("deploy/nats.conf has a login besides the table's users (user %q, token set %v, no_auth_user %q, %d nkeys)",
			opts.Username, opts.Authorization != "", opts.NoAuthUser, len(opts.Nkeys))
	}
	seen := map[string]bool{}
	for _, u := range opts.Users {
		want, ok := table[u.Username]
		if !ok {
			t.Errorf("deploy/nats.conf user %s is not in the table", u.Username)
			continue
		}
		seen[u.Username] = true
		if u.Permissions == nil {
			t.Errorf("%s (%s): no permissions: it may do anything", u.Username, want.Name)
			continue
		}
		if got := sorted(allowOnly(t, u.Username+" publish", u.Permissions.Publish)); !slices.Equal(got, sorted(want.Publish)) {
			t.Errorf("%s (%s) publish: nats.conf %v, table %v", u.Username, want.Name, got, sorted(want.Publish))
		}
		if got := sorted(allowOnly(t, u.Username+" subscribe", u.Permissions.Subscribe)); !slices.Equal(got, sorted(want.Subscribe)) {
			t.Errorf("%s (%s) subscribe: nats.conf %v, table %v", u.Username, want.Name, got, sorted(want.Subscribe))
		}
		if got := u.Permissions.Response != nil; got != want.Responses {
			t.Errorf("%s (%s) allow_responses: nats.conf %v, table %v", u.Username, want.Name, got, want.Responses)
		}
	}
	for user, r := range table {
		if !seen[user] {
			t.Errorf("table user %s (%s) is not in deploy/nats.conf", user, r.Name)
		}
	}
	if len(table) < 4 {
		t.Errorf("the table has %d users, want at least one per role", len(table))
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, subject string
		want             bool
	}{
		{"alo.user.*", "alo.user.7", true},
		{"alo.user.*", "alo.user.7.x", false},
		{"alo.user.*", "alo.user", false},
		{"_INBOX.>", "_INBOX.a.b", true},
		{"_INBOX.>", "_INBOX", false},
		{"alo.events.gw-1", "alo.events.gw-2", false},
		{"alo.events.gw-1", "alo.events.gw-1", true},
	} {
		if got := alotest.SubjectMatches(c.pattern, c.subject); got != c.want {
			t.Errorf("SubjectMatches(%q, %q) = %v", c.pattern, c.subject, got)
		}
	}
}
