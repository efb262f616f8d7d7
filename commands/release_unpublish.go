package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
)

type releaseUnpublishOptions struct {
	targetedOptions
	Encoding string
	Clear    bool
	DryRun   bool
	Yes      bool
}

func newReleaseUnpublishCommand(sys *System) *cli.Command {
	opts := &releaseUnpublishOptions{}
	flags := opts.flags(false,
		&cli.StringFlag{Name: "encoding", Usage: "the empty manifest's encoding: json ({}) or cbor (a0); default: the encoding of the manifest the target retains", Destination: &opts.Encoding},
		&cli.BoolFlag{Name: "clear", Usage: "delete the retained message instead of publishing the empty manifest", Destination: &opts.Clear},
		&cli.BoolFlag{Name: "dry-run", Usage: "say what would be done and send nothing", Destination: &opts.DryRun},
		yesFlag(&opts.Yes),
		verifyBrokerFlag(&opts.Conn),
	)
	return &cli.Command{
		Name:      "unpublish",
		Usage:     "take a release back: devices see \"no release\"",
		UsageText: "otactl release unpublish [--cohort NAME... | --device ID... | --devices-file FILE] [--encoding json|cbor | --clear] [--dry-run] [connection flags] [-o json]",
		Description: `Replaces the desired manifest retained for the fleet (or the given cohort
or devices) with the empty manifest, which means "no release" to devices
on the Golioth SDK and to otactl: {} in JSON, the byte a0 in CBOR, in the
encoding of the manifest retained there unless --encoding says otherwise.
It is published retained and read back, so that devices online now and
devices that connect later both see it. Devices keep the firmware they
run; they just have no release to act on. A target that retains nothing
is left alone. Artifacts and the catalog are left alone too.

--clear deletes the retained message instead (an empty retained payload):
nothing stays on the topic, and devices on the Golioth SDK that are online
log the empty payload as a format error.

On a terminal it asks before acting on the whole fleet; --yes skips the
question, and nothing asks when standard input is not a terminal (CI).

A target that fails (a broker's access rules, a lost connection) does not
stop the others: each is taken back where it can be, the failed ones are
marked failed, and the run exits 6 when anything was sent to the broker,
1 when nothing was; -o json prints what every target did either way
(docs/publishing.md, "release unpublish").

Example:
   $ otactl release unpublish --device canary-01
   $ otactl release unpublish --cohort beta --encoding cbor -o json
   $ otactl release unpublish --clear`,
		Flags: flags,
		Action: runWithoutArgs("release unpublish", "", func(ctx context.Context) error {
			if err := checkUnpublishFlags(opts); err != nil {
				return err
			}
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
	if err := confirmFleet(sys, opts.Yes, opts.DryRun, targets, "unpublish (no release)", cn); err != nil {
		return err
	}
	return opts.publishWith(ctx, sys, "release-unpublish", func(p *publish.Publisher, _ bool) (any, error) {
		results, err := p.Unpublish(ctx, targets,
			publish.UnpublishOptions{Encoding: opts.Encoding, Clear: opts.Clear, DryRun: opts.DryRun})
		return map[string]any{"dryRun": opts.DryRun, "targets": results}, err
	})
}

// checkUnpublishFlags refuses an --encoding that is not json or cbor, and
// one given with --clear.
func checkUnpublishFlags(opts *releaseUnpublishOptions) error {
	switch {
	case opts.Clear && opts.Encoding != "":
		return usageErrorf("release unpublish: --clear sends no manifest: it takes no --encoding")
	case opts.Encoding != "" && opts.Encoding != release.EncodingJSON && opts.Encoding != release.EncodingCBOR:
		return usageErrorf("release unpublish: --encoding must be json or cbor, not %q", opts.Encoding)
	}
	return nil
}

// clearedLine is the progress line of a target unpublished.
func clearedLine(e publish.TargetCleared) string {
	t, r := e.Target, e.Result
	was := ""
	if r.Previous != 0 {
		was = fmt.Sprintf(" (was sequence %d)", r.Previous)
	}
	switch r.Action {
	case publish.ActionNothingRetained:
		return fmt.Sprintf("%s: nothing retained on %s", t, t.Topic)
	case publish.ActionNoRelease:
		return fmt.Sprintf("%s: %s already retains the empty manifest (%s): no release", t, t.Topic, r.Encoding)
	case publish.ActionUnpublished, publish.ActionWouldUnpublish:
		verb := map[bool]string{true: "published", false: "would publish"}[r.Action == publish.ActionUnpublished]
		return fmt.Sprintf("%s: %s the empty manifest (%s) to %s%s: no release", t, verb, r.Encoding, t.Topic, was)
	case publish.ActionFailed:
		return fmt.Sprintf("%s: failed on %s%s: %s", t, t.Topic, was, r.Error)
	}
	return fmt.Sprintf("%s: %s %s%s", t, r.Action, t.Topic, was)
}
