package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/publish"
)

type releaseUnpublishOptions struct {
	targetedOptions
	DryRun bool
}

func newReleaseUnpublishCommand(sys *System) *cli.Command {
	opts := &releaseUnpublishOptions{}
	flags := opts.flags(false,
		&cli.BoolFlag{Name: "dry-run", Usage: "say what would be cleared and send nothing", Destination: &opts.DryRun},
	)
	return &cli.Command{
		Name:      "unpublish",
		Usage:     "clear a retained desired manifest",
		UsageText: "otactl release unpublish [--cohort NAME | --device ID... | --devices-file FILE] [--dry-run] [connection flags] [-o json]",
		Description: `Clears the retained desired manifest of the fleet (or the given cohorts or
devices) with an empty retained message, and reads the topic back to make
sure nothing is retained. Devices keep the firmware they run; they just
have no release to act on. Artifacts and the catalog are left alone.

Example:
   $ otactl release unpublish --device canary-01
   $ otactl release unpublish --cohort beta -o json`,
		Flags: flags,
		Action: runWithoutArgs("release unpublish", "", func(ctx context.Context) error {
			return releaseUnpublishRun(ctx, sys, opts)
		}),
	}
}

func releaseUnpublishRun(ctx context.Context, sys *System, opts *releaseUnpublishOptions) error {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	targets, err := opts.Targets.resolve(cn.topics())
	if err != nil {
		return err
	}
	return opts.publishWith(ctx, sys, func(p *publish.Publisher, _ bool) (any, error) {
		results, err := p.Unpublish(ctx, targets, opts.DryRun)
		return map[string]any{"dryRun": opts.DryRun, "targets": results}, err
	})
}

// clearedLine is the progress line of a target unpublished.
func clearedLine(e publish.TargetCleared) string {
	t, r := e.Target, e.Result
	switch {
	case r.Action == "empty":
		return fmt.Sprintf("%s: nothing retained on %s", t, t.Topic)
	case r.Previous != 0:
		return fmt.Sprintf("%s: %s %s (was sequence %d)", t, r.Action, t.Topic, r.Previous)
	}
	return fmt.Sprintf("%s: %s %s", t, r.Action, t.Topic)
}
