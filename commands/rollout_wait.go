package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/clihelp"
	"github.com/otactl/otactl/protocol"
)

type rolloutWaitOptions struct {
	gateOptions
	Conn        connectOptions
	Version     string
	Package     string
	Devices     []string
	DevicesFile string
	Cohorts     []string
	Output      string
}

func newRolloutWaitCommand(sys *System) *cli.Command {
	opts := &rolloutWaitOptions{}
	flags := append(waitConnectFlags(&opts.Conn),
		&cli.StringFlag{Name: "version", Usage: "wait for `VERSION` (default: what the cohort's, else the fleet's, desired manifest gives the package)", Destination: &opts.Version},
		stringsFlag(&cli.StringSliceFlag{Name: "device", Aliases: []string{"d"}, Usage: "device `ID` that counts, reported or not (repeatable)"}, &opts.Devices),
		&cli.StringFlag{Name: "devices-file", Usage: "the device ids that count, one a line in `FILE` ('#' starts a comment)", Destination: &opts.DevicesFile},
		cohortFlag(&opts.Cohorts, "the devices of cohort `NAME` count: those listed, or those reporting its release"),
	)
	flags = append(flags, packageFlags("the `PACKAGE` to judge", fleet.DefaultPackage, &opts.Package)...)
	flags = append(append(flags, gateFlags(&opts.gateOptions, "timeout", "")...), outputFlag(&opts.Output))
	return &cli.Command{
		Name:      "wait",
		Usage:     "wait until a rollout is done (exit 0), failed (exit 4) or timed out (exit 5)",
		UsageText: "otactl rollout wait [--version V] [--package P] [--device ID... | --devices-file FILE | --cohort NAME...] [--expect N] [--min-updated 100%] [--max-failed N|P%] [--timeout 30m] [-o json]",
		Description: `Follows the devices' state reports until enough of them run VERSION
(exit 0), more than --max-failed of them report a failure or so many
failed that --min-updated can no longer be reached (exit 4, at once,
naming the failed devices and their reasons), or --timeout passes (exit 5,
naming the devices still pending and their states). A failed device
cannot count as updated: with the default --min-updated 100%, any failure
ends the wait. Ctrl-C or SIGTERM ends it with exit 130. Progress goes to
standard error; with -o json the gate's result (its "outcome": done,
failed or timeout) is printed on standard output as one JSON object
(docs/json.md).

The devices that count are those named (--device, --devices-file), else
the cohorts' (--cohort, repeatable: devices reporting the version its
desired manifest gives, as running or target version), else every device
that reports the package; --expect N makes at least N count, so devices that have not
reported yet are waited for.

In GitHub Actions (GITHUB_ACTIONS=true) the progress is folded in a group,
each failed device is annotated (::error::) and the verdict is appended
as markdown tables to $GITHUB_STEP_SUMMARY (see docs/watch.md, "GitHub
Actions"). To publish and wait in one step: release publish --wait.

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

// waitConnectFlags are the connection flags without the deprecated
// --timeout (rollout wait's --timeout is the rollout's deadline), and with
// --connect-timeout, this command's old name of --broker-timeout.
func waitConnectFlags(o *connectOptions) []cli.Flag {
	var flags []cli.Flag
	for _, f := range connectFlags(o) {
		switch {
		case slices.Contains(f.Names(), "timeout"):
		case slices.Contains(f.Names(), "broker-timeout"):
			flags = append(flags, f, clihelp.Deprecated("connect-timeout", f))
		default:
			flags = append(flags, f)
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
	w := newGateWait(sys, &opts.gateOptions, "rollout wait: "+strings.TrimSpace(gate.Package+" "+gate.Version))
	res, err := w.run(ctx, client, gate, opts.Cohorts, members, start, func(src *fleet.Source, gate *fleet.Gate) error {
		if gate.Version == "" {
			v, from, err := defaultWaitVersion(src.Fleet(), gate.Package, opts.Cohorts)
			if err != nil {
				return err
			}
			gate.Version = v
			w.title += " " + v
			fmt.Fprintf(sys.Stderr, "waiting for %s %s (from %s)\n", gate.Package, v, from)
		}
		for _, c := range src.UnknownCohorts() {
			topic, _ := src.Topics().Cohort(c.Name)
			return withHint(fmt.Errorf("rollout wait: cohort %s has no desired manifest at %s, so no device can be known to be in it", c.Name, topic),
				"list its devices with --devices-file FILE, or publish the cohort's release first")
		}
		return nil
	})
	// Every verdict prints its document, a timeout before the version was
	// known too; an error or an interrupt before a verdict prints none.
	var werr error
	if opts.Output == "json" && res.Verdict != "" {
		werr = writeJSON(sys.Stdout, "rollout-wait", gateDocument(res))
	}
	if err != nil {
		return withWriteError(err, werr)
	}
	return withWriteError(w.verdict(res, ""), werr)
}

// gate checks the options and builds the gate; members are the devices
// named, which, with --cohort, are the cohort's members.
func (opts *rolloutWaitOptions) gate() (fleet.Gate, []string, error) {
	if err := checkNames(opts.Package, opts.Version, opts.Cohorts); err != nil {
		return fleet.Gate{}, nil, err
	}
	if opts.Package == "" {
		return fleet.Gate{}, nil, usageErrorf("--package: must not be empty")
	}
	g, err := opts.gateOptions.gate()
	if err != nil {
		return g, nil, err
	}
	g.Version, g.Package = opts.Version, opts.Package
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
		g.Cohorts = opts.Cohorts
	}
	return g, sel.IDs, nil
}

// defaultWaitVersion is the version the retained desired manifests give
// pkg: the cohorts', with cohorts (all must give the same), else the
// fleet's.
func defaultWaitVersion(f *fleet.Fleet, pkg string, cohorts []string) (version, from string, err error) {
	for _, cohort := range cohorts {
		seq, versions, ok := f.Desired(protocol.CohortTarget(cohort))
		if !ok || versions[pkg] == "" {
			return "", "", withHint(usageErrorf("rollout wait: --version is missing and cohort %s's desired manifest gives no version of %s", cohort, pkg), "say which version to wait for with --version")
		}
		if version != "" && versions[pkg] != version {
			return "", "", withHint(usageErrorf("rollout wait: --version is missing and the cohorts' desired manifests give %s different versions (%s, %s)", pkg, version, versions[pkg]), "say which version to wait for with --version")
		}
		if version == "" {
			version, from = versions[pkg], fmt.Sprintf("cohort %s's desired manifest, sequence %d", cohort, seq)
		}
	}
	if version != "" {
		if len(cohorts) > 1 {
			from = fmt.Sprintf("the desired manifests of cohorts %s", strings.Join(cohorts, ", "))
		}
		return version, from, nil
	}
	seq, versions, ok := f.Desired(protocol.FleetTarget())
	if ok && versions[pkg] != "" {
		return versions[pkg], fmt.Sprintf("the fleet's desired manifest, sequence %d", seq), nil
	}
	return "", "", withHint(usageErrorf("rollout wait: --version is missing and the fleet's desired manifest gives no version of %s", pkg), "say which version to wait for with --version")
}
