package commands

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/charmbracelet/lipgloss"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/report"
)

type watchOptions struct {
	fleetViewOptions
	Once bool
}

func newWatchCommand(sys *System) *cli.Command {
	opts := &watchOptions{}
	return &cli.Command{
		Name:      "watch",
		Aliases:   []string{"tail"},
		Usage:     "watch devices report their update state, live",
		UsageText: "otactl watch [--package P] [--version V] [--device ID|GLOB]... [--devices-file FILE] [--cohort NAME]... [--state S]... [--failed] [--stale 5m] [--once] [-o json]",
		Description: `Subscribes to every device's state reports (devices/+/.u/c/+) and to the
desired manifests that decide each device's target.

On a terminal it shows a live table, redrawn at most four times a second:
a summary (devices, counts per state, percent updated to the target,
failures by reason, malformed reports), then the devices, trouble first:
failed, then stale (no report for --stale), then pending, then done.
Press q to leave; Ctrl-C leaves too (exit 130).

Not on a terminal it prints one tab-separated line per report (time,
device, package, state, reason, version, target, topic); with -o json one
JSON object per line (docs/json.md). --once prints the retained reports,
trouble first, and exits: piped, under a header line, in the columns of
'rollout status' (device, package, status, state, reason, version,
target, time). --cohort may be repeated: the devices of any of them.

Example:
   $ otactl watch --package main --version 1.2.0
   $ otactl watch --failed -o json | jq -r .device
   $ otactl watch --once --cohort canary --devices-file canary.txt`,
		Flags: opts.flags(
			&cli.BoolFlag{Name: "once", Usage: "print the devices' retained reports and exit", Destination: &opts.Once},
		),
		Action: runWithoutArgs("watch", "pick devices with --device ID", func(ctx context.Context) error {
			return watchRun(ctx, sys, opts, opts.Conn.dial(sys))
		}),
	}
}

func watchRun(ctx context.Context, sys *System, opts *watchOptions, dial dialer) error {
	read := (*fleet.Source).ReadDesired
	if opts.Once {
		// The manifests and the reports in one read (fleet.Source.ReadAll).
		defer fleet.TuneGCForBulkRead(sys.Getenv)()
		read = (*fleet.Source).ReadAll
	}
	return opts.view(ctx, sys, dial, read, func(src *fleet.Source, flt fleet.Filter) error {
		json := opts.Output == "json"
		switch {
		case opts.Once:
			return watchOnce(sys, opts, src, flt)
		case sys.StdoutTTY && sys.StderrTTY && !json:
			return watchLive(ctx, sys, opts, src, flt)
		}
		pick := fleet.NewPicker(src.Fleet(), flt)
		ctx, out, cancel := newStreamOut(ctx, sys, true)
		defer cancel()
		return out.result(src.Follow(ctx, func(r report.Report, err error) {
			if err != nil {
				warnMalformed(sys.Stderr, r, err)
				return
			}
			if !pick.Picks(r) {
				return
			}
			if json {
				out.check(output.WriteReportJSON(sys.Stdout, r))
			} else {
				out.check(output.WriteReportLine(sys.Stdout, r))
			}
		}, nil))
	})
}

// warnUnknownCohorts warns of each cohort whose members are to be
// inferred from its release but that has no desired manifest.
func warnUnknownCohorts(sys *System, src *fleet.Source) {
	for _, c := range src.UnknownCohorts() {
		topic, _ := src.Topics().Cohort(c.Name)
		fmt.Fprintf(sys.Stderr, "warning: cohort %s has no desired manifest at %s, so no device is known to be in it\nhint: list its devices with --devices-file FILE\n", c.Name, topic)
	}
}

// warnMalformed tells of a message that is not a report; a cleared
// report is not worth a word.
func warnMalformed(w io.Writer, r report.Report, err error) {
	if errors.Is(err, report.ErrEmpty) {
		return
	}
	fmt.Fprintf(w, "malformed report on %s: %s\n", text.Printable(r.Topic), shownWhy(report.Why(err)))
}

// shownWhy is why a report is malformed, on one line, safe to print.
func shownWhy(why string) string {
	return text.Printable(text.OneLine(why))
}

// watchOnce prints the retained picture, trouble first: on a terminal the
// table; with -o json one JSON object per report; else, piped, a header
// and one tab-separated row per device that reported, in the columns of
// rollout status.
func watchOnce(sys *System, opts *watchOptions, src *fleet.Source, flt fleet.Filter) error {
	defer fleet.PauseGCForPrinting(sys.Getenv)()
	json := opts.Output == "json"
	if json {
		// Row by row: a million rows are not held at once.
		if err := output.WriteSeenReportsJSON(sys.Stdout, src.Fleet().Rows(flt)); err != nil {
			return err
		}
		warnMalformedCount(sys.Stderr, src.Fleet())
		return nil
	}
	v := src.Fleet().View(flt, 0)
	if sys.StdoutTTY {
		frame := output.RenderFrame(v, output.FrameOptions{
			Width:    terminalWidth(sys.Stdout),
			Renderer: lipgloss.NewRenderer(sys.Stdout),
		})
		_, err := fmt.Fprintln(sys.Stdout, frame)
		return err
	}
	var seen []fleet.Row
	for _, row := range v.Rows {
		if row.Seen {
			seen = append(seen, row)
		}
	}
	warnMalformedCount(sys.Stderr, src.Fleet())
	return output.WriteRows(sys.Stdout, seen)
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
	fmt.Fprintf(w, "warning: %s on %s: %s\n", what, text.Printable(last.Topic), shownWhy(last.Why))
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
