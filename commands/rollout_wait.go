package commands

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/protocol"
)

type rolloutWaitOptions struct {
	Conn        connectOptions
	Version     string
	Package     string
	Devices     []string
	DevicesFile string
	Cohort      string
	Expect      int
	MinUpdated  string
	MaxFailed   string
	Retrying    bool
	Timeout     time.Duration
	Stale       time.Duration
	Output      string
}

func newRolloutWaitCommand(sys *System) *cli.Command {
	opts := &rolloutWaitOptions{}
	flags := append(waitConnectFlags(&opts.Conn),
		&cli.StringFlag{Name: "version", Usage: "wait for `VERSION` (default: what the cohort's, else the fleet's, desired manifest gives the package)", Destination: &opts.Version},
		&cli.StringFlag{Name: "package", Aliases: []string{"p"}, Usage: "the `PACKAGE` to judge", Value: fleet.DefaultPackage, Destination: &opts.Package},
		stringsFlag(&cli.StringSliceFlag{Name: "device", Aliases: []string{"d"}, Usage: "device `ID` that counts, reported or not (repeatable)"}, &opts.Devices),
		&cli.StringFlag{Name: "devices-file", Usage: "the device ids that count, one a line in `FILE` ('#' starts a comment)", Destination: &opts.DevicesFile},
		&cli.StringFlag{Name: "cohort", Usage: "the devices of cohort `NAME` count: those listed, or those reporting its release", Destination: &opts.Cohort},
		&cli.IntFlag{Name: "expect", Usage: "at least `N` devices count, seen or not", Destination: &opts.Expect},
		&cli.StringFlag{Name: "min-updated", Usage: "`SHARE` of the devices that must update: 100%, 90% or 0.9", Value: "100%", Destination: &opts.MinUpdated},
		&cli.StringFlag{Name: "max-failed", Usage: "fail when more than `N` devices (or P%) fail", Value: "0", Destination: &opts.MaxFailed},
		&cli.BoolFlag{Name: "retrying-as-pending", Usage: "count a device awaiting a retry of the version (reason 11) as pending, not failed", Destination: &opts.Retrying},
		&cli.DurationFlag{Name: "timeout", Usage: "give up after `DURATION` (exit 5)", Value: 30 * time.Minute, Destination: &opts.Timeout},
		&cli.DurationFlag{Name: "stale", Usage: "a pending device silent for `DURATION` is shown as stale", Value: fleet.DefaultStale, Destination: &opts.Stale},
		outputFlag(&opts.Output),
	)
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait until a rollout is done (exit 0), failed (exit 4) or timed out (exit 5)",
		UsageText: "otactl rollout wait [--version V] [--package P] [--device ID... | --devices-file FILE | --cohort NAME] [--expect N] [--min-updated 100%] [--max-failed N|P%] [--timeout 30m] [-o json]",
		Description: `Follows the devices' state reports until enough of them run VERSION
(exit 0), more than --max-failed of them report a failure or so many
failed that --min-updated can no longer be reached (exit 4, at once,
naming the failed devices and their reasons), or --timeout passes (exit 5,
naming the devices still pending and their states). A failed device
cannot count as updated: with the default --min-updated 100%, any failure
ends the wait. Ctrl-C or SIGTERM ends it with exit 130. Progress goes to
standard error; with -o json the verdict is printed on standard output as
one JSON object.

The devices that count are those named (--device, --devices-file), else
the cohort's (--cohort: devices reporting the version its desired manifest
gives, as running or target version), else every device that reports the
package; --expect N makes at least N count, so devices that have not
reported yet are waited for.

Example, between a canary and the whole fleet in a pipeline:
   $ otactl release publish release.json --cohort canary
   $ otactl rollout wait --cohort canary --devices-file canary.txt --version 1.2.0 --timeout 20m
   $ otactl release publish release.json
   $ otactl rollout wait --version 1.2.0 --expect 500 --min-updated 98% --max-failed 1% --timeout 2h`,
		Flags: flags,
		Action: runWithoutArgs("rollout wait", "name devices with --device ID", func(ctx context.Context) error {
			return rolloutWaitRun(ctx, sys, opts, opts.Conn.dial(sys))
		}),
	}
}

// waitConnectFlags are the connection flags with the broker's --timeout
// renamed --connect-timeout: rollout wait's --timeout is the rollout's.
func waitConnectFlags(o *connectOptions) []cli.Flag {
	flags := connectFlags(o)
	for i, f := range flags {
		if slices.Contains(f.Names(), "timeout") {
			d := f.(*cli.DurationFlag)
			flags[i] = &cli.DurationFlag{Name: "connect-timeout", Usage: d.Usage, DefaultText: d.DefaultText, Category: connCategory, Destination: &o.Timeout,
				Action: func(*cli.Context, time.Duration) error { o.mark("timeout"); return nil }}
		}
	}
	return flags
}

func rolloutWaitRun(ctx context.Context, sys *System, opts *rolloutWaitOptions, dial dialer) error {
	start := time.Now()
	gate, members, err := opts.gate()
	if err != nil {
		return err
	}
	client, err := dial(ctx)
	if err != nil {
		return err
	}
	defer client.Close()

	// The deadline counts from the start; connecting has a timeout of its own.
	waitCtx, cancel := context.WithDeadline(ctx, start.Add(opts.Timeout))
	defer cancel()
	src := newFleetSource(sys, client, opts.Stale, opts.Cohort, members)
	progress := newWaitProgress(sys)
	verdict := func(res fleet.GateResult) error {
		progress.done(res)
		return finishWait(sys, opts, res)
	}
	timedOut := func() error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res := fleet.Evaluate(src.Fleet(), gate)
		res.Verdict = "timeout"
		return verdict(res)
	}

	if err := src.ReadDesired(waitCtx); err != nil {
		switch {
		case ctx.Err() != nil || waitCtx.Err() == nil:
			return err
		case gate.Version == "":
			// Out of time before knowing which version to wait for.
			return withExitCode(ExitTimeout, fmt.Errorf("rollout timed out after %s reading the desired manifests", opts.Timeout))
		}
		return timedOut()
	}
	if gate.Version == "" {
		v, from, err := defaultWaitVersion(src.Fleet(), gate.Package, opts.Cohort)
		if err != nil {
			return err
		}
		gate.Version = v
		fmt.Fprintf(sys.Stderr, "waiting for %s %s (from %s)\n", gate.Package, v, from)
	}
	if topic, unknown := src.UnknownCohort(); unknown {
		return withHint(fmt.Errorf("rollout wait: cohort %s has no desired manifest at %s, so no device can be known to be in it", opts.Cohort, topic),
			"list its devices with --devices-file FILE, or publish the cohort's release first")
	}

	// The retained picture, whole, before judging: judging part of it
	// could pass a rollout whose failed devices have not been read yet.
	if err := src.ReadReports(waitCtx); err != nil {
		if waitCtx.Err() != nil {
			return timedOut()
		}
		return err
	}
	// Judge it, then follow live reports until the gate decides or time
	// runs out.
	res, err := src.Await(waitCtx, gate, func(res fleet.GateResult) { progress.show(res, start) })
	if err != nil {
		if waitCtx.Err() != nil {
			return timedOut()
		}
		return err
	}
	return verdict(res)
}

// gate checks the options and builds the gate; members are the devices
// named, which, with --cohort, are the cohort's members.
func (opts *rolloutWaitOptions) gate() (fleet.Gate, []string, error) {
	g := fleet.Gate{Version: opts.Version, Package: opts.Package, Expect: opts.Expect}
	if err := checkNames(opts.Package, opts.Version, opts.Cohort); err != nil {
		return g, nil, err
	}
	if opts.Package == "" {
		return g, nil, usageErrorf("--package: must not be empty")
	}
	if opts.Expect < 0 {
		return g, nil, usageErrorf("--expect %d: must not be negative", opts.Expect)
	}
	if opts.Timeout <= 0 {
		return g, nil, usageErrorf("--timeout %s: must be positive", opts.Timeout)
	}
	if opts.Stale <= 0 {
		return g, nil, usageErrorf("--stale %s: must be positive", opts.Stale)
	}
	share, err := fleet.ParseShare(opts.MinUpdated)
	if err != nil {
		return g, nil, usageErrorf("--min-updated: %v", err)
	}
	g.MinUpdated = share
	if share == 0 {
		// Gate's zero means all of them; asked for none, one still must.
		g.MinUpdated = 1e-9
	}
	if g.MaxFailed, err = fleet.ParseThreshold(opts.MaxFailed); err != nil {
		return g, nil, usageErrorf("--max-failed: %v", err)
	}
	g.RetryingAsPending = opts.Retrying
	sel, err := selectDevices(opts.Devices, opts.DevicesFile)
	if err != nil {
		return g, nil, err
	}
	if sel.Pattern != "" {
		return g, nil, withHint(usageErrorf("--device %q: rollout wait takes device ids, not patterns", sel.Pattern), "list the devices in a file for --devices-file, or use --cohort")
	}
	if len(sel.IDs) > 0 && opts.Expect > 0 {
		return g, nil, withHint(usageErrorf("--expect: the devices listed (%d) are the devices that count", len(sel.IDs)), "--expect is for a fleet or a cohort whose members are not listed")
	}
	g.Devices = sel.IDs
	if len(sel.IDs) == 0 {
		g.Cohort = opts.Cohort
	}
	return g, sel.IDs, nil
}

// defaultWaitVersion is the version the retained desired manifests give
// pkg: the cohort's, with a cohort, else the fleet's.
func defaultWaitVersion(f *fleet.Fleet, pkg, cohort string) (version, from string, err error) {
	if cohort != "" {
		seq, versions, ok := f.Desired(protocol.CohortTarget(cohort))
		if ok && versions[pkg] != "" {
			return versions[pkg], fmt.Sprintf("cohort %s's desired manifest, sequence %d", cohort, seq), nil
		}
		return "", "", withHint(usageErrorf("rollout wait: --version is missing and cohort %s's desired manifest gives no version of %s", cohort, pkg), "say which version to wait for with --version")
	}
	seq, versions, ok := f.Desired(protocol.FleetTarget())
	if ok && versions[pkg] != "" {
		return versions[pkg], fmt.Sprintf("the fleet's desired manifest, sequence %d", seq), nil
	}
	return "", "", withHint(usageErrorf("rollout wait: --version is missing and the fleet's desired manifest gives no version of %s", pkg), "say which version to wait for with --version")
}

// finishWait prints the verdict and returns the command's error: nil when
// done, exit 4 when failed, exit 5 when timed out.
func finishWait(sys *System, opts *rolloutWaitOptions, res fleet.GateResult) error {
	if opts.Output == "json" {
		if err := writeJSON(sys.Stdout, res); err != nil {
			return err
		}
	}
	const most = 50 // devices named per list
	switch res.Verdict {
	case "done":
		fmt.Fprintf(sys.Stderr, "rollout done: %s\n", output.GateProgress(res))
		return nil
	case "failed":
		failed := res
		failed.Pending, failed.NotKnown = nil, 0
		fmt.Fprintln(sys.Stderr, output.DescribeGate(failed, most))
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
		fmt.Fprintln(sys.Stderr, d)
	}
	return withExitCode(ExitTimeout, withHint(
		fmt.Errorf("rollout timed out after %s: %s", opts.Timeout, output.GateProgress(res)),
		"a longer --timeout waits longer; 'otactl watch' shows the devices live"))
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
func (p *waitProgress) done(fleet.GateResult) {
	if p.line {
		fmt.Fprint(p.sys.Stderr, "\r\x1b[K")
		p.line = false
	}
}
