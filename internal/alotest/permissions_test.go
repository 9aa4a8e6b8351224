package alotest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/alo-presence/alo/internal/alotest"
)

// role is one row of docs/PROTOCOL.md's permissions table, for one user.
type role struct {
	name               string
	publish, subscribe []string
	responses          bool
}

var backticked = regexp.MustCompile("`([^`]+)`")

// permissionsTable parses the table under "### Permissions" in
// docs/PROTOCOL.md into a role per compose user, <gw> replaced by the user.
func permissionsTable(t *testing.T) map[string]role {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(alotest.ModuleRoot(t), "docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n### Permissions\n")
	if !ok {
		t.Fatal("docs/PROTOCOL.md has no \"### Permissions\" section")
	}
	users := map[string]role{}
	header := true
	for line := range strings.SplitSeq(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if len(users) > 0 {
				break // the end of the table
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if header || strings.HasPrefix(strings.TrimSpace(cells[0]), "---") {
			header = false
			continue
		}
		if len(cells) != 5 {
			t.Fatalf("permissions row %q: want 5 cells", line)
		}
		name := strings.Fields(cells[0])[0]
		for _, user := range expandUsers(t, cells[1]) {
			sub := func(cell string) []string {
				var out []string
				for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
					out = append(out, strings.ReplaceAll(m[1], "<gw>", user))
				}
				return out
			}
			if _, dup := users[user]; dup {
				t.Fatalf("user %s in two rows", user)
			}
			users[user] = role{name: name, publish: sub(cells[2]), subscribe: sub(cells[3]),
				responses: strings.TrimSpace(cells[4]) == "yes"}
		}
	}
	if len(users) == 0 {
		t.Fatal("no permissions table under \"### Permissions\"")
	}
	return users
}

// expandUsers reads a users cell: names in backticks, "`gw-1` … `gw-10`" a
// range.
func expandUsers(t *testing.T, cell string) []string {
	t.Helper()
	var names []string
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		names = append(names, m[1])
	}
	if !strings.Contains(cell, "…") {
		return names
	}
	if len(names) != 2 {
		t.Fatalf("users %q: a range is two names", cell)
	}
	re := regexp.MustCompile(`^(.*?)(\d+)$`)
	a, b := re.FindStringSubmatch(names[0]), re.FindStringSubmatch(names[1])
	if a == nil || b == nil || a[1] != b[1] {
		t.Fatalf("users %q: not a numbered range", cell)
	}
	from, _ := strconv.Atoi(a[2])
	to, _ := strconv.Atoi(b[2])
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprint(a[1], i))
	}
	return out
}

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
	table := permissionsTable(t)
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
			t.Errorf("%s (%s): no permissions: it may do anything", u.Username, want.name)
			continue
		}
		if got := sorted(allowOnly(t, u.Username+" publish", u.Permissions.Publish)); !slices.Equal(got, sorted(want.publish)) {
			t.Errorf("%s (%s) publish: nats.conf %v, table %v", u.Username, want.name, got, sorted(want.publish))
		}
		if got := sorted(allowOnly(t, u.Username+" subscribe", u.Permissions.Subscribe)); !slices.Equal(got, sorted(want.subscribe)) {
			t.Errorf("%s (%s) subscribe: nats.conf %v, table %v", u.Username, want.name, got, sorted(want.subscribe))
		}
		if got := u.Permissions.Response != nil; got != want.responses {
			t.Errorf("%s (%s) allow_responses: nats.conf %v, table %v", u.Username, want.name, got, want.responses)
		}
	}
	for user, r := range table {
		if !seen[user] {
			t.Errorf("table user %s (%s) is not in deploy/nats.conf", user, r.name)
		}
	}
	if len(table) < 4 {
		t.Errorf("the table has %d users, want at least one per role", len(table))
	}
}
