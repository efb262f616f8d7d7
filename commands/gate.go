package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/upload"
)

// The gate of a rollout, shared by rollout wait and release publish
// --wait: its flags, declared once, and the wait on a connection with its
// rendering (progress, the verdict, GitHub Actions output).

// gateOptions are the gate flags.
type gateOptions struct {
	Expect     int
	MinUpdated string
	MaxFailed  string
	Retrying   bool
	Timeout    time.Duration
	Stale      time.Duration
	// timeoutFlag is the name of the deadline's flag: --timeout for
	// rollout wait, --wait-timeout for release publish.
	timeoutFlag string
	// given are the gate flags given on the command line.
	given []string
}

// gateFlags binds the gate flags into o, the deadline as --timeoutFlag,
// in category (none when empty).
func gateFlags(o *gateOptions, timeoutFlag, category string) []cli.Flag {
	o.timeoutFlag = timeoutFlag
	mark := func(name string) { o.given = append(o.given, "--"+name) }
	return []cli.Flag{
		&cli.IntFlag{Name: "expect", Usage: "at least `N` devices count, seen or not", Category: category, Destination: &o.Expect,
			Action: func(*cli.Context, int) error { mark("expect"); return nil }},
		&cli.StringFlag{Name: "min-updated", Usage: "`SHARE` of the devices that must update: 100%, 90% or 0.9", Value: "100%", Category: category, Destination: &o.MinUpdated,
			Action: func(*cli.Context, string) error { mark("min-updated"); return nil }},
		&cli.StringFlag{Name: "max-failed", Usage: "fail when more than `N` devices (or P%) fail", Value: "0", Category: category, Destination: &o.MaxFailed,
			Action: func(*cli.Context, string) error { mark("max-failed"); return nil }},
		&cli.BoolFlag{Name: "retrying-as-pending", Usage: "count a device awaiting a retry of the version (reason 11) as pending, not failed", Category: category, Destination: &o.Retrying,
			Action: func(*cli.Context, bool) error { mark("retrying-as-pending"); return nil }},
		&cli.DurationFlag{Name: timeoutFlag, Usage: "give up waiting after `DURATION` (exit 5)", Value: 30 * time.Minute, Category: category, Destination: &o.Timeout,
			Action: func(*cli.Context, time.Duration) error { mark(timeoutFlag); return nil }},
		&cli.DurationFlag{Name: "stale", Usage: "a pending device silent for `DURATION` is shown as stale", Value: fleet.DefaultStale, Category: category, Destination: &o.Stale,
			Action: func(*cli.Context, time.Duration) error { mark("stale"); return nil }},
	}
}

// gate checks the flags and returns the gate's thresholds; the version,
// package and devices are the command's to set.
func (o *gateOptions) gate() (fleet.Gate, error) {
	var g fleet.Gate
	if o.Expect < 0 {
		return g, usageErrorf("--expect %d: must not be negative", o.Expect)
	}
	if o.Timeout <= 0 {
		return g, usageErrorf("--%s %s: must be positive", cmp.Or(o.timeoutFlag, "timeout"), o.Timeout)
	}
	if o.Stale <= 0 {
		return g, usageErrorf("--stale %s: must be positive", o.Stale)
	}
	share, err := fleet.ParseShare(o.MinUpdated)
	if err != nil {
		return g, usageErrorf("--min-updated: %v", err)
	}
	g.MinUpdated = share
	if share == 0 {
		// Gate's zero means all of them; asked for none, one still must.
		g.MinUpdated = 1e-9
	}
	if g.MaxFailed, err = fleet.ParseThreshold(o.MaxFailed); err != nil {
		return g, usageErrorf("--max-failed: %v", err)
	}
	g.RetryingAsPending = o.Retrying
	g.Expect = o.Expect
	return g, nil
}

// gateWait runs a gate on a connection and renders it: progress on
// standard error and, in GitHub Actions, the wait in a group of its own,
// the failures annotated and the verdict in the step summary.
type gateWait struct {
	sys   *System
	opts  *gateOptions
	gh    *output.GitHub
	title string // names the wait: the group's title, the summary's heading
}

func newGateWait(sys *System, opts *gateOptions, title string) *gateWait {
	return &gateWait{sys: sys, opts: opts, gh: output.NewGitHub(sys.Getenv, sys.Stderr), title: title}
}

// run waits on g with the deadline counted from start: the devices that
// count are g's; the source follows cohorts (when any), whose members
// are those listed, else those inferred from reports. ready, when not nil, completes the gate once
// the desired manifests are read (fleet.WaitOptions.Ready). The result's
// verdict is done, failed or timeout; a timeout before the version was
// known comes with its error (exit 5), any other error without a verdict.
func (w *gateWait) run(ctx context.Context, client *upload.Client, g fleet.Gate, cohorts, members []string, start time.Time, ready func(*fleet.Source, *fleet.Gate) error) (fleet.GateResult, error) {
	src := newFleetSource(w.sys, client, w.opts.Stale, cohorts, members)
	progress := newWaitProgress(w.sys)
	w.gh.Group(w.title)
	defer w.gh.EndGroup()
	o := fleet.WaitOptions{
		Deadline: start.Add(w.opts.Timeout),
		Progress: func(res fleet.GateResult) { progress.show(res, start) },
	}
	if ready != nil {
		o.Ready = func(g *fleet.Gate) error { return ready(src, g) }
	}
	res, err := src.Wait(ctx, g, o)
	progress.done()
	if errors.Is(err, fleet.ErrTimeout) {
		// Out of time before knowing which version to wait for.
		return res, withExitCode(ExitTimeout, fmt.Errorf("rollout %w after %s reading the desired manifests", fleet.ErrTimeout, w.opts.Timeout))
	}
	return res, err
}

// verdict prints the verdict and returns the command's error: nil when
// done, exit 4 when failed, exit 5 when timed out. In GitHub Actions it
// annotates the failures and appends summary (markdown, may be empty)
// and the gate's table to the step summary.
func (w *gateWait) verdict(res fleet.GateResult, summary string) error {
	err := w.describe(res)
	switch res.Verdict {
	case "failed":
		w.gh.GateErrors(res, 9)
		w.gh.Error("rollout failed", err.Error())
	case "timeout":
		w.gh.Error("rollout timed out", err.Error())
	}
	if serr := w.gh.Summary(summary + output.GateMarkdown(w.title, res, 50) + "\n"); serr != nil {
		fmt.Fprintf(w.sys.Stderr, "warning: %v\n", serr)
	}
	return err
}

// describe prints the verdict in words on standard error and returns the
// command's error.
func (w *gateWait) describe(res fleet.GateResult) error {
	const most = 50 // devices named per list
	stderr := w.sys.Stderr
	switch res.Verdict {
	case "done":
		fmt.Fprintf(stderr, "rollout done: %s\n", output.GateProgress(res))
		return nil
	case "failed":
		failed := res
		failed.Pending, failed.NotKnown = nil, 0
		fmt.Fprintln(stderr, output.DescribeGate(failed, most))
		if res.TooManyFailed {
			return withExitCode(ExitRolloutFail, fmt.Errorf("rollout failed: %d of %d devices failed, more than the %d allowed (%s)",
				res.FailedCount, res.Total, res.Allowed, output.GateProgress(res)))
		}
		err := fmt.Errorf("rollout failed: the goal can no longer be met: %d of %d devices updated, %d failed (%d allowed) and %d can still update, fewer than the %d needed",
			res.Updated, res.Total, res.FailedCount, res.Allowed, res.PendingCount, res.Need)
		return withExitCode(ExitRolloutFail, withHint(err,
			"a failed device cannot count as updated: --max-failed allows failures, --min-updated says how many must update; to pass with failed devices, lower --min-updated too"))
	}
	if d := output.DescribeGate(res, most); d != "" {
		fmt.Fprintln(stderr, d)
	}
	return withExitCode(ExitTimeout, withHint(
		fmt.Errorf("rollout timed out after %s: %s", w.opts.Timeout, output.GateProgress(res)),
		fmt.Sprintf("a longer --%s waits longer; 'otactl watch' shows the devices live", cmp.Or(w.opts.timeoutFlag, "timeout"))))
}

// waitProgress writes the gate's progress to stderr: on a terminal one
// line rewritten in place, else a line whenever the counts change.
type waitProgress struct {
	sys  *System
	last string
	line bool // a line in place is on the terminal
}

func newWaitProgress(sys *System) *waitProgress { return &waitProgress{sys: sys} }

func (p *waitProgress) show(res fleet.GateResult, start time.Time) {
	text := output.GateProgress(res)
	if p.sys.StderrTTY {
		elapsed := time.Since(start).Truncate(time.Second)
		fmt.Fprintf(p.sys.Stderr, "\r\x1b[K%s · %s", text, elapsed)
		p.line = true
		return
	}
	if text != p.last {
		fmt.Fprintln(p.sys.Stderr, text)
		p.last = text
	}
}

// done ends the line in place, if any.
func (p *waitProgress) done() {
	if p.line {
		fmt.Fprint(p.sys.Stderr, "\r\x1b[K")
		p.line = false
	}
}

// gateDocument is a gate's result as JSON documents print it: its time to
// the second (docs/json.md).
func gateDocument(res fleet.GateResult) fleet.GateResult {
	res.Time = output.Time(res.Time)
	return res
}
