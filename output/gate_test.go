package output

import (
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/fleet/fleettest"
	"github.com/otactl/otactl/report"
)

func TestGateWords(t *testing.T) {
	f, c := fleettest.FromLines("ok 3 1 1.1 -", "slow 1 0 1.0 1.1", "bad 1 5 1.0 1.1", "retry 0 11 1.0 1.1")
	c.Advance(6 * time.Minute)
	f.Apply(fleettest.Rep("fresh", report.Downloaded, 0, "1.0", "1.1"))
	devices := []string{"ok", "slow", "bad", "retry", "fresh", "ghost"}
	// Awaiting a retry of 1.1 is a failed attempt at it (the default).
	g := fleet.Evaluate(f, fleet.Gate{Version: "1.1", Devices: devices})
	if p := GateProgress(g); p != "main 1.1: 1/6 updated (need 6), 2 failed (1 retrying, allowed 0), 3 pending (2 stale)" {
		t.Errorf("GateProgress = %q", p)
	}
	want := `failed:
  bad: integrity check failure for new downloaded package (running 1.0, target 1.1, 6m ago)
  retry: idle, awaiting retry (running 1.0, target 1.1, 6m ago)
pending:
  ghost: no report
  slow: downloading (running 1.0, target 1.1, 6m ago, stale)
  … 1 more`
	if d := DescribeGate(g, 2); d != want {
		t.Errorf("DescribeGate:\n%s\nwant:\n%s", d, want)
	}
	if d := DescribeGate(g, 0); strings.Count(d, "\n") != 6 || !strings.Contains(d, "fresh: downloaded (running 1.0, target 1.1, 0s ago)") {
		t.Errorf("DescribeGate(0):\n%s", d)
	}

	// Told to count it as pending (rollout wait --retrying-as-pending).
	g = fleet.Evaluate(f, fleet.Gate{Version: "1.1", Devices: devices, RetryingAsPending: true})
	if p := GateProgress(g); p != "main 1.1: 1/6 updated (need 6), 1 failed (allowed 0), 4 pending (3 stale)" {
		t.Errorf("GateProgress, retrying as pending = %q", p)
	}
	want = `failed:
  bad: integrity check failure for new downloaded package (running 1.0, target 1.1, 6m ago)
pending:
  ghost: no report
  retry: idle, awaiting retry (running 1.0, target 1.1, 6m ago, stale)
  … 2 more`
	if d := DescribeGate(g, 2); d != want {
		t.Errorf("DescribeGate, retrying as pending:\n%s\nwant:\n%s", d, want)
	}

	g = fleet.Evaluate(f, fleet.Gate{Version: "1.1", Expect: 9})
	if !strings.HasSuffix(DescribeGate(g, 0), "  4 expected devices have not reported") {
		t.Errorf("expect 9:\n%s", DescribeGate(g, 0))
	}

	// A retry whose failure was seen: the failure is named.
	f.Apply(fleettest.Rep("again", report.Downloading, report.ReasonIOError, "1.0", "1.1"))
	f.Apply(fleettest.Rep("again", report.Idle, report.ReasonReady, "1.0", "1.1"))
	f.Apply(fleettest.Rep("again", report.Idle, report.ReasonAwaitingRetry, "1.0", "1.1"))
	g = fleet.Evaluate(f, fleet.Gate{Version: "1.1", Devices: []string{"again"}})
	if d := DescribeGate(g, 0); d != "failed:\n  again: idle, awaiting retry after: I/O error (running 1.0, target 1.1, 0s ago)" {
		t.Errorf("DescribeGate, a retry after a failure seen:\n%s", d)
	}
}
