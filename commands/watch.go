package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/charmbracelet/lipgloss"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
)

// fleetFilterOptions are the flags that pick rows of the fleet, shared by
// watch and rollout status.
type fleetFilterOptions struct {
	Package     string
	Version     string
	Devices     []string
	DevicesFile string
	Cohort      string
	States      []string
	Failed      bool
	Stale       time.Duration
}

// fleetFilterFlags binds the filter flags; devices and states collect the
// repeatable ones until the action copies them into o.
func fleetFilterFlags(o *fleetFilterOptions, devices, states *cli.StringSlice) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "package", Aliases: []string{"p"}, Usage: "only `PACKAGE`", Destination: &o.Package},
		&cli.StringFlag{Name: "version", Usage: "only devices whose target is `VERSION`", Destination: &o.Version},
		&cli.StringSliceFlag{Name: "device", Aliases: []string{"d"}, Usage: "only device `ID`, or devices matching a GLOB like 'sensor-*' (repeatable)", Destination: devices},
		&cli.StringFlag{Name: "devices-file", Usage: "only the device ids listed in `FILE`, one a line ('#' starts a comment)", Destination: &o.DevicesFile},
		&cli.StringFlag{Name: "cohort", Usage: "only cohort `NAME`: the devices listed, or those reporting its release", Destination: &o.Cohort},
		&cli.StringSliceFlag{Name: "state", Usage: "only devices in `STATE`: idle, downloading, downloaded, updated or a code (repeatable)", Destination: states},
		&cli.BoolFlag{Name: "failed", Usage: "only failed devices", Destination: &o.Failed},
		&cli.DurationFlag{Name: "stale", Usage: "a device not done and silent for `DURATION` is stale", Value: fleet.DefaultStale, Destination: &o.Stale},
	}
}

// resolve checks the filter options and turns them into a filter and the
// devices selected by id.
func (o *fleetFilterOptions) resolve() (fleet.Filter, deviceSelection, error) {
	flt := fleet.Filter{Package: o.Package, Version: o.Version, FailedOnly: o.Failed}
	if err := checkNames(o.Package, o.Version, o.Cohort); err != nil {
		return flt, deviceSelection{}, err
	}
	if o.Stale <= 0 {
		return flt, deviceSelection{}, usageErrorf("--stale %s: must be positive", o.Stale)
	}
	for _, s := range o.States {
		st, err := report.ParseState(s)
		if err != nil {
			return flt, deviceSelection{}, usageErrorf("--state: %v", err)
		}
		flt.States = append(flt.States, st)
	}
	sel, err := selectDevices(o.Devices, o.DevicesFile)
	if err != nil {
		return flt, sel, err
	}
	flt.Device = sel.Pattern
	flt.Devices = sel.IDs
	if o.Cohort != "" && len(sel.IDs) == 0 {
		flt.Cohort = o.Cohort
	}
	return flt, sel, nil
}

// checkNames checks the --package, --version and --cohort values given
// (empty ones are not checked) with the naming rules.
func checkNames(pkg, version, cohort string) error {
	if pkg != "" {
		if err := release.ValidatePackage(pkg); err != nil {
			return usageErrorf("--package: %v", err)
		}
	}
	if version != "" {
		if err := release.ValidateVersion(version); err != nil {
			return usageErrorf("--version: %v", err)
		}
	}
	if cohort != "" {
		if err := release.ValidateCohort(cohort); err != nil {
			return usageErrorf("--cohort: %v", err)
		}
	}
	return nil
}

// describe names the filters in a few words, for titles.
func (o *fleetFilterOptions) describe() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	add("package", o.Package)
	add("version", o.Version)
	add("cohort", o.Cohort)
	for _, d := range o.Devices {
		add("device", d)
	}
	add("devices from", o.DevicesFile)
	for _, s := range o.States {
		add("state", s)
	}
	if o.Failed {
		parts = append(parts, "failed")
	}
	return strings.Join(parts, ", ")
}

type watchOptions struct {
	Conn    connectOptions
	Filters fleetFilterOptions
	Once    bool
	Output  string
}

func newWatchCommand(sys *System) *cli.Command {
	opts := &watchOptions{}
	var devices, states cli.StringSlice
	flags := append(connectFlags(&opts.Conn), fleetFilterFlags(&opts.Filters, &devices, &states)...)
	flags = append(flags,
		&cli.BoolFlag{Name: "once", Usage: "print the devices' retained reports and exit", Destination: &opts.Once},
		outputFlag(&opts.Output),
	)
	return &cli.Command{
		Name:      "watch",
		Aliases:   []string{"tail"},
		Usage:     "watch devices report their update state, live",
		UsageText: "otactl watch [--package P] [--version V] [--device ID|GLOB]... [--devices-file FILE] [--cohort NAME] [--state S]... [--failed] [--stale 5m] [--once] [-o json]",
		Description: `Subscribes to every device's state reports (devices/+/.u/c/+) and to the
desired manifests that decide each device's target.

On a terminal it shows a live table, redrawn at most four times a second:
a summary (devices, counts per state, percent updated to the target,
failures by reason, malformed reports), then the devices, trouble first:
failed, then stale (no report for --stale), then pending, then done.
Press q to leave; Ctrl-C leaves too (exit 130).

Not on a terminal it prints one tab-separated line per report (time,
device, package, state, reason, version, target, topic); with -o json one
JSON object per line. --once prints the retained reports, trouble first,
and exits.

Example:
   $ otactl watch --package main --version 1.2.0
   $ otactl watch --failed -o json | jq -r .device
   $ otactl watch --once --cohort canary --devices-file canary.txt`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("watch: unexpected argument %q\nhint: pick devices with --device ID", c.Args().First())
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			opts.Filters.Devices = devices.Value()
			opts.Filters.States = states.Value()
			return watchRun(c.Context, sys, opts, opts.Conn.dial(sys))
		},
	}
}

func watchRun(ctx context.Context, sys *System, opts *watchOptions, dial dialer) error {
	flt, sel, err := opts.Filters.resolve()
	if err != nil {
		return err
	}
	client, err := dial(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	src := newFleetSource(sys, client, opts.Filters.Stale, opts.Filters.Cohort, sel.IDs)
	if err := src.ReadDesired(ctx); err != nil {
		return err
	}
	warnUnknownCohort(sys, src, opts.Filters.Cohort)

	json := opts.Output == "json"
	switch {
	case opts.Once:
		return watchOnce(ctx, sys, opts, src, flt)
	case sys.StdoutTTY && sys.StderrTTY && !json:
		return watchLive(ctx, sys, opts, src, flt)
	}
	pick := fleet.NewPicker(src.Fleet(), flt)
	return src.Follow(ctx, func(r report.Report, err error) {
		if err != nil {
			warnMalformed(sys.Stderr, r, err)
			return
		}
		if !pick.Picks(r) {
			return
		}
		if json {
			_ = output.WriteReportJSON(sys.Stdout, r)
		} else {
			_ = output.WriteReportLine(sys.Stdout, r)
		}
	}, nil)
}

// warnUnknownCohort warns when the cohort's members are to be inferred
// from its release but the cohort has no desired manifest.
func warnUnknownCohort(sys *System, src *fleet.Source, cohort string) {
	if topic, unknown := src.UnknownCohort(); unknown {
		fmt.Fprintf(sys.Stderr, "warning: cohort %s has no desired manifest at %s, so no device is known to be in it\nhint: list its devices with --devices-file FILE\n", cohort, topic)
	}
}

// warnMalformed tells of a message that is not a report; a cleared
// report is not worth a word.
func warnMalformed(w io.Writer, r report.Report, err error) {
	if errors.Is(err, report.ErrEmpty) {
		return
	}
	fmt.Fprintf(w, "malformed report on %s: %s\n", safeText(r.Topic), malformedWhy(err.Error()))
}

// malformedWhy is why a report is malformed, without the words
// "malformed report" the error starts with, on one line.
func malformedWhy(msg string) string {
	msg = strings.TrimPrefix(msg, report.ErrMalformed.Error()+": ")
	return safeText(strings.Join(strings.Fields(msg), " "))
}

// safeText replaces what a terminal would act on with '?'.
func safeText(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
}

// watchOnce prints the retained picture: on a terminal the table, else
// one line (or JSON object) per report, trouble first.
func watchOnce(ctx context.Context, sys *System, opts *watchOptions, src *fleet.Source, flt fleet.Filter) error {
	if err := src.ReadReports(ctx); err != nil {
		return err
	}
	v := src.Fleet().View(flt, 0)
	json := opts.Output == "json"
	if sys.StdoutTTY && !json {
		frame := output.RenderFrame(v, output.FrameOptions{
			Width:    terminalWidth(sys.Stdout),
			Renderer: lipgloss.NewRenderer(sys.Stdout),
		})
		_, err := fmt.Fprintln(sys.Stdout, frame)
		return err
	}
	for _, row := range v.Rows {
		if !row.Seen {
			continue
		}
		var err error
		if json {
			err = output.WriteReportJSON(sys.Stdout, row.Report)
		} else {
			err = output.WriteReportLine(sys.Stdout, row.Report)
		}
		if err != nil {
			return err
		}
	}
	warnMalformedCount(sys.Stderr, src.Fleet())
	return nil
}

// warnMalformedCount tells how many reports did not decode, and the latest.
func warnMalformedCount(w io.Writer, f *fleet.Fleet) {
	n, recent := f.MalformedCount()
	if n == 0 || len(recent) == 0 {
		return
	}
	last := recent[len(recent)-1]
	what := "1 malformed report"
	if n > 1 {
		what = fmt.Sprintf("%d malformed reports, the latest", n)
	}
	fmt.Fprintf(w, "warning: %s on %s: %s\n", what, safeText(last.Topic), malformedWhy(last.Error))
}

// fder is a stream with a file descriptor: a terminal, maybe.
type fder interface{ Fd() uintptr }

// terminalSize is w's size when it is a terminal, else 80x24.
func terminalSize(w io.Writer) (width, height int) {
	if f, ok := w.(fder); ok {
		if wd, ht, err := term.GetSize(int(f.Fd())); err == nil && wd > 0 && ht > 0 {
			return wd, ht
		}
	}
	return 80, 24
}

func terminalWidth(w io.Writer) int {
	wd, _ := terminalSize(w)
	return wd
}
