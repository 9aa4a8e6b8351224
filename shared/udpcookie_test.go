package shared

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendErrorWithin(t *testing.T) {
	const code, msg = "bad_json", `a message must be a "JSON" object é`
	full := string(AppendError(nil, code, msg))
	bare := `{"error":"bad_json"}`
	for max := 0; max <= len(full)+5; max++ {
		b, ok := AppendErrorWithin([]byte("x"), code, msg, max)
		out := string(b[1:])
		if !ok {
			if max >= len(bare) || len(b) != 1 {
				t.Fatalf("max %d: refused (%q), but %q fits", max, out, bare)
			}
			continue
		}
		if len(out) > max {
			t.Fatalf("max %d: %d bytes: %q", max, len(out), out)
		}
		var v struct{ Error, Message string }
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("max %d: not JSON: %q: %v", max, out, err)
		}
		if v.Error != code || !strings.HasPrefix(msg, v.Message) {
			t.Fatalf("max %d: %+v", max, v)
		}
		if max >= len(full) && out != full {
			t.Fatalf("max %d: %q, want %q", max, out, full)
		}
	}
}

func TestAppendCookie(t *testing.T) {
	var v map[string]string
	if err := json.Unmarshal(AppendCookie(nil, "AbC-_9"), &v); err != nil || v[KeyCookie] != "AbC-_9" {
		t.Fatalf("%v %v", v, err)
	}
}
