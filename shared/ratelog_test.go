package shared

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRateLogOncePerIntervalWithCount(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	r := NewRateLog(log, time.Hour)
	for range 1000 {
		r.Warn("bad_batch", "bad event batch", "subject", "alo.events")
	}
	r.Warn("bad_control", "bad control message")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("1001 lines of two kinds in one interval wrote %d lines, want 2:\n%s", len(lines), buf.String())
	}

	// A short interval: the next line of the kind carries the count.
	buf.Reset()
	r = NewRateLog(log, time.Millisecond)
	r.Warn("k", "first")
	r.Warn("k", "dropped")
	r.Warn("k", "dropped")
	time.Sleep(2 * time.Millisecond)
	r.Warn("k", "second")
	out := buf.String()
	if !strings.Contains(out, "msg=second suppressed=2") {
		t.Fatalf("the line after an interval does not carry the count of the suppressed ones:\n%s", out)
	}
}

func TestRateLogDisabledLevelCountsNothing(t *testing.T) {
	var buf bytes.Buffer
	r := NewRateLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), time.Hour)
	r.Debug("k", "hidden")
	if buf.Len() != 0 || len(r.kinds) != 0 {
		t.Fatalf("a debug line with debug off was written or counted: %q, %d kinds", buf.String(), len(r.kinds))
	}
}
