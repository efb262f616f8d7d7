package commands

import (
	"context"
	"fmt"

	"github.com/charmbracelet/lipgloss"
	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/rollout"
)

// rolloutStatusOptions are the fleet view's, and no others.
type rolloutStatusOptions = fleetViewOptions

func newRolloutStatusCommand(sys *System) *cli.Command {
	opts := &rolloutStatusOptions{}
	return &cli.Command{
		Name:      "status",
		Usage:     "summarise a rollout and list the devices not done",
		UsageText: "otactl rollout status [--package P] [--version V] [--device ID|GLOB]... [--devices-file FILE] [--cohort NAME]... [--state S]... [--failed] [-o json]",
		Description: `Reads the retained desired manifests and state reports once and prints the
summary (devices, counts per state, percent updated to the target,
failures by reason, malformed reports), then every device not yet done,
trouble first. On a terminal it is a table; in a pipe the rows are
tab-separated lines on standard output and the summary goes to standard
error; -o json prints one object: {"schema", "time", "summary", "devices"}
(docs/json.md). --cohort may be repeated: the devices of any of them.

When a staged rollout ('rollout start') has left its state on the broker,
it comes first, on standard error: release, steps, status, the stage it
is at, each stage's counts, who started it and when; with -o json it is
the object's "rollout" key.

Example:
   $ otactl rollout status --package main --version 1.2.0
   $ otactl rollout status --cohort canary --devices-file canary.txt -o json | jq .summary.updated`,
		Flags: opts.flags(),
		Action: runWithoutArgs("rollout status", "pick devices with --device ID", func(ctx context.Context) error {
			return rolloutStatusRun(ctx, sys, opts, opts.Conn.dial(sys))
		}),
	}
}

func rolloutStatusRun(ctx context.Context, sys *System, opts *rolloutStatusOptions, dial dialer) error {
	var state *rollout.State
	read := func(src *fleet.Source, ctx context.Context) error {
		if err := src.ReadAll(ctx); err != nil {
			return err
		}
		var err error
		if state, err = rollout.ReadState(ctx, src, src.Topics().RolloutState()); err != nil {
			fmt.Fprintf(sys.Stderr, "warning: %v\n", err)
		}
		return nil
	}
	return opts.view(ctx, sys, dial, read, func(src *fleet.Source, flt fleet.Filter) error {
		st := src.Fleet().Status(flt)
		var extra []output.Field
		if state != nil {
			extra = append(extra, output.Field{Key: "rollout", Value: stateDocument(state)})
			if opts.Output != "json" {
				for _, l := range state.Lines() {
					fmt.Fprintln(sys.Stderr, l)
				}
			}
		}
		switch {
		case opts.Output == "json":
			return output.WriteStatusJSON(sys.Stdout, "rollout-status", st, extra...)
		case sys.StdoutTTY:
			_, err := fmt.Fprintln(sys.Stdout, output.RenderStatus(st, output.FrameOptions{
				Width:    terminalWidth(sys.Stdout),
				Renderer: lipgloss.NewRenderer(sys.Stdout),
			}))
			return err
		}
		for _, l := range output.SummaryLines(st.Summary) {
			fmt.Fprintln(sys.Stderr, l)
		}
		return output.WriteRows(sys.Stdout, st.NotDone)
	})
}
