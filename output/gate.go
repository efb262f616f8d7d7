package output

import (
	"fmt"
	"strings"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/report"
)

// GateProgress is a one-line account of a gate's result for a progress
// line: "main 1.2.0: 3/10 updated (need 10), 2 failed (1 retrying, allowed
// 0), 6 pending (2 stale)".
func GateProgress(g fleet.GateResult) string {
	stale, retrying := 0, 0
	for _, r := range g.Pending {
		if r.Status == fleet.StatusStale {
			stale++
		}
	}
	for _, r := range g.Failures {
		if r.Status == fleet.StatusRetrying {
			retrying++
		}
	}
	failed := fmt.Sprintf("%d failed (allowed %d)", g.FailedCount, g.Allowed)
	if retrying > 0 {
		failed = fmt.Sprintf("%d failed (%d retrying, allowed %d)", g.FailedCount, retrying, g.Allowed)
	}
	s := fmt.Sprintf("%s %s: %d/%d updated (need %d), %s, %d pending",
		g.Package, g.Version, g.Updated, g.Total, g.Need, failed, g.PendingCount)
	if stale > 0 {
		s += fmt.Sprintf(" (%d stale)", stale)
	}
	return s
}

// DescribeGate names the devices behind a gate's verdict, at most max of
// each list (all when max <= 0): the failed devices and their reasons,
// then the pending devices and their states. Each line is indented by two
// spaces.
func DescribeGate(g fleet.GateResult, max int) string {
	var b strings.Builder
	list := func(title string, rows []fleet.Row, extra int) {
		if len(rows)+extra == 0 {
			return
		}
		fmt.Fprintf(&b, "%s:\n", title)
		for i, r := range rows {
			if max > 0 && i == max {
				fmt.Fprintf(&b, "  … %d more\n", len(rows)-max)
				break
			}
			fmt.Fprintf(&b, "  %s\n", describeRow(r, g.Time))
		}
		if extra > 0 {
			fmt.Fprintf(&b, "  %d expected devices have not reported\n", extra)
		}
	}
	list("failed", g.Failures, 0)
	list("pending", g.Pending, g.NotKnown)
	return strings.TrimSuffix(b.String(), "\n")
}

// describeRow is one device in words: "d7: integrity check failure for new
// downloaded package (downloading 1.0.0, target 1.1.0, 2m ago)".
func describeRow(r fleet.Row, now time.Time) string {
	id := text.Printable(r.Report.Device)
	if !r.Seen {
		return id + ": no report"
	}
	rep := r.Report
	var what string
	switch {
	case rep.Failed():
		what = rep.Reason.Describe()
	case rep.Reason == report.ReasonAwaitingRetry:
		what = rep.State.String() + ", " + rep.Reason.Describe()
		if r.LastFailure != 0 {
			what += " after: " + r.LastFailure.Describe()
		}
	default:
		what = rep.State.String()
	}
	detail := "running " + text.Dash(text.Printable(rep.Version))
	if rep.Target != "" {
		detail += ", target " + text.Printable(rep.Target)
	}
	detail += ", " + shortAge(now.Sub(rep.Received)) + " ago"
	if r.Status == fleet.StatusStale {
		detail += ", stale"
	}
	return id + ": " + what + " (" + detail + ")"
}
