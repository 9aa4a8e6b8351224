package cdp

import (
	"context"
	"io"
	"os"
	"testing"
	"time"
)

// ForTest launches a browser for t and closes it when t ends. Without a
// browser, or with -short, the test is skipped, unless ALO_BROWSER_TEST=1:
// then a missing browser fails it, so a CI that means to run browser tests
// cannot pass by silently skipping them.
func ForTest(t testing.TB) *Browser {
	t.Helper()
	required := os.Getenv("ALO_BROWSER_TEST") == "1"
	if testing.Short() && !required {
		t.Skip("browser test skipped in -short mode")
	}
	path, err := Find()
	if err != nil {
		if required {
			t.Fatalf("ALO_BROWSER_TEST=1: %v", err)
		}
		t.Skipf("%v; set ALO_BROWSER_TEST=1 to make this a failure", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Chromium is chatty even when all is well: its log only on request.
	var stderr io.Writer
	if os.Getenv("ALO_BROWSER_LOG") != "" {
		stderr = os.Stderr
	}
	b, err := Launch(ctx, Options{Path: path, Stderr: stderr})
	if err != nil {
		t.Fatalf("launch %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close browser: %v", err)
		}
	})
	return b
}
