package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/rollout"
)

type rolloutStartOptions struct {
	rolloutReleaseOptions
	// --steps, --package, --min-updated, --max-failed, --on-failure.
	Steps, Package, MinUpdated, MaxFailed, OnFailure string
	Bake                                             time.Duration
}

func newRolloutStartCommand(sys *System) *cli.Command {
	opts := &rolloutStartOptions{}
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "steps", Usage: "the stages: `LIST` of percentages of the devices (growing), cohort:NAME and 100% (the fleet), e.g. 10%,50%,100%", Required: true, Destination: &opts.Steps},
		&cli.StringFlag{Name: "package", Usage: "the `PACKAGE` the gates judge (default: the release's only component, else main)", Destination: &opts.Package},
		&cli.StringFlag{Name: "min-updated", Usage: "`SHARE` of a stage's devices that must update: 100%, 90% or 0.9", Value: "100%", Destination: &opts.MinUpdated},
		&cli.StringFlag{Name: "max-failed", Usage: "a stage fails when more than `N` (or P%) of the devices targeted so far fail", Value: "0", Destination: &opts.MaxFailed},
		&cli.DurationFlag{Name: "bake", Usage: "after a stage's gate passes, watch it for `DURATION` with no new failure before widening", Destination: &opts.Bake},
		&cli.StringFlag{Name: "on-failure", Usage: "on a failed gate: pause (leave all as is), halt (restore the previous release on the stage's devices not updated) or rollback (on every device of the stage)", Value: rollout.OnFailurePause, Destination: &opts.OnFailure},
		&cli.StringFlag{Name: "encoding", Usage: "desired manifest encoding: json or cbor (env OTACTL_ENCODING, profile setting encoding)", DefaultText: "json", Destination: &opts.Plan.Encoding},
		&cli.StringFlag{Name: "max-payload", Usage: "largest message the broker accepts, e.g. 128k or 16M (default: the profile's); larger artifacts go in blocks", Destination: &opts.MaxPayload},
		blockSizeFlag(&opts.BlockSize),
		yesFlag(&opts.Yes),
	}, opts.Run.flags(&opts.releasePublishOptions)...)
	return &cli.Command{
		Name:      "start",
		Usage:     "roll a release out in stages, each gated on its devices, halting itself on failures",
		UsageText: "otactl rollout start MANIFEST [FILE... | --artifacts DIR] --steps 10%,50%,100% [--min-updated 100%] [--max-failed N|P%] [--bake DURATION] [--on-failure pause|halt|rollback] [--sign KEYREF] [--verify-broker URL...] [--timeout 2h] [-o json]",
		Description: `For each stage of --steps: publishes the release to the stage's targets
as 'release publish' does (artifacts read back, anti-rollback, catalog),
waits for the stage's gate as 'rollout wait' does (--min-updated of the
devices targeted so far updated, no more than --max-failed of them
failed), watches it --bake long with no new failure, then widens. A
percentage stage targets the devices 'release publish --percent' would
choose (a stable hash: a larger percentage keeps the devices chosen),
cohort:NAME the cohort's desired topic, 100% the fleet's.

When a gate fails (exit 4): pause leaves everything as it is; halt
publishes the previous release again (a new manifest, new sequence,
signed with --sign) to the stage's devices that have not updated;
rollback to every device of the stage. The previous release is the one
the fleet's desired topic held, from the catalog. --timeout is the whole
rollout's deadline (exit 5, nothing restored). Another rollout's run
holding the lock, or a rollout that cannot go on, is refused (exit 3).

With --verify-broker (or OTACTL_VERIFY_BROKERS, or the profile's
verify-brokers) every stage's publish and every restore is confirmed on
each endpoint as 'release publish' does: artifacts before any desired
manifest, anti-rollback everywhere, the desired manifest read back. A
stage published but not confirmed everywhere pauses the rollout, exit 6;
'rollout resume' publishes the stage again and confirms it.

With a 100% stage it asks on a terminal before anything is sent, as
'release publish' to the fleet does; --yes skips the question, and
nothing asks when standard input is not a terminal.

The state is retained on the broker (P.u/rollout/state): 'rollout status'
shows it, and this same command run again (a retried CI job) resumes
where it stopped without publishing finished stages again. See
docs/rollouts.md.

Example:
   $ otactl rollout start release.json build/zephyr.signed.bin --steps 10%,50%,100% --bake 10m
   $ otactl rollout start release.json --artifacts build/ --steps cohort:canary,25%,100% --max-failed 2% --on-failure rollback --sign env:OTACTL_SIGNING_KEY -o json`,
		Flags: flags,
		Action: runWithManifest("rollout start", "otactl rollout start release.json build/app.bin --steps 10%,100%", func(ctx context.Context, manifest string, files []string) error {
			opts.File, opts.Artifacts = manifest, files
			return rolloutStartRun(ctx, sys, opts)
		}),
	}
}

func rolloutStartRun(ctx context.Context, sys *System, opts *rolloutStartOptions) error {
	req, err := opts.request()
	if err != nil {
		return err
	}
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	if req.Plan, err = releasePublishPlan(ctx, sys, cn, &opts.releasePublishOptions); err != nil {
		return err
	}
	if err := opts.Run.request(sys, cn, &req); err != nil {
		return err
	}
	if last := req.Steps[len(req.Steps)-1]; last.Kind == rollout.Fleet {
		question := fmt.Sprintf("roll out release %d to the whole fleet in stages %s (%s on %s)?",
			req.Plan.Manifest.SequenceNumber, opts.Steps, cn.topics().Fleet(), brokerName(cn))
		if err := confirm(sys, opts.Yes, question); err != nil {
			return err
		}
	}
	return runRollout(ctx, sys, &opts.Conn, &opts.Run, opts.Output, req)
}

// request maps the gate and stage flags, checked before any network
// traffic.
func (opts *rolloutStartOptions) request() (rollout.Request, error) {
	req := rollout.Request{Package: opts.Package, Bake: opts.Bake, OnFailure: opts.OnFailure}
	var err error
	if req.Steps, err = rollout.ParseSteps(opts.Steps); err != nil {
		return req, usageErrorf("rollout start: %v", err)
	}
	switch opts.OnFailure {
	case rollout.OnFailurePause, rollout.OnFailureHalt, rollout.OnFailureRollback:
	default:
		return req, usageErrorf("rollout start: --on-failure must be pause, halt or rollback, not %q", opts.OnFailure)
	}
	if opts.Bake < 0 {
		return req, usageErrorf("rollout start: --bake must not be negative")
	}
	if err := checkNames(opts.Package, "", nil); err != nil {
		return req, err
	}
	if enc := opts.Plan.Encoding; enc != "" && enc != "json" && enc != "cbor" {
		return req, usageErrorf("rollout start: --encoding must be json or cbor, not %q", enc)
	}
	if req.Gate.MinUpdated, err = fleet.ParseShare(opts.MinUpdated); err != nil {
		return req, usageErrorf("--min-updated: %v", err)
	}
	if req.Gate.MinUpdated == 0 {
		req.Gate.MinUpdated = 1e-9 // as rollout wait: one still must
	}
	if req.Gate.MaxFailed, err = fleet.ParseThreshold(opts.MaxFailed); err != nil {
		return req, usageErrorf("--max-failed: %v", err)
	}
	return req, nil
}
