package alotest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Role is one row of docs/PROTOCOL.md's permissions table, for one user.
type Role struct {
	Name               string // gateway, presence, backend, observer
	Publish, Subscribe []string
	Responses          bool // allow_responses
}

var backticked = regexp.MustCompile("`([^`]+)`")

// PermissionsTable parses the table under "### Permissions" in
// docs/PROTOCOL.md into a role per compose user, <gw> replaced by the user.
func PermissionsTable(t testing.TB) map[string]Role {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ModuleRoot(t), "docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n### Permissions\n")
	if !ok {
		t.Fatal("docs/PROTOCOL.md has no \"### Permissions\" section")
	}
	users := map[string]Role{}
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
			users[user] = Role{Name: name, Publish: sub(cells[2]), Subscribe: sub(cells[3]),
				Responses: strings.TrimSpace(cells[4]) == "yes"}
		}
	}
	if len(users) == 0 {
		t.Fatal("no permissions table under \"### Permissions\"")
	}
	return users
}

// expandUsers reads a users cell: names in backticks, "`gw-1` … `gw-10`" a
// range.
func expandUsers(t testing.TB, cell string) []string {
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

// SubjectMatches reports whether subject matches pattern, a NATS subject
// with wildcards ("*" one token, ">" the rest).
func SubjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		switch {
		case tok == ">":
			return len(s) > i
		case i >= len(s):
			return false
		case tok != "*" && tok != s[i]:
			return false
		}
	}
	return len(p) == len(s)
}

// Allowed reports whether one of patterns matches subject.
func Allowed(patterns []string, subject string) bool {
	for _, p := range patterns {
		if SubjectMatches(p, subject) {
			return true
		}
	}
	return false
}
