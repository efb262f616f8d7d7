package commands

import (
	"bytes"
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/rollout"
)

func newRolloutResumeCommand(sys *System) *cli.Command {
	opts := &rolloutReleaseOptions{} // the release is optional
	flags := opts.Run.flags(&opts.releasePublishOptions)
	return &cli.Command{
		Name:      "resume",
		Usage:     "resume the rollout in progress: gate its stage again and go on",
		UsageText: "otactl rollout resume [MANIFEST [FILE... | --artifacts DIR]] [--sign KEYREF] [--verify-broker URL...] [--timeout 2h] [-o json]",
		Description: `Takes up the rollout whose state the broker retains (P.u/rollout/state),
paused by a failed gate or a timeout, or left by a run that died: its
stage is published again where it was not finished (what is there already
is left alone), gated again, and the rollout goes on with the steps, gate
and --on-failure it was started with. The release is read back from where
the rollout published it, unless MANIFEST is given. The broker endpoints
(--verify-broker, OTACTL_VERIFY_BROKERS or the profile's verify-brokers)
are confirmed as 'rollout start' does. Exit codes as 'rollout start'.

Example:
   $ otactl rollout status
   $ otactl rollout resume --timeout 1h
   $ otactl rollout resume release.json --sign env:OTACTL_SIGNING_KEY -o json`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				opts.File, opts.Artifacts = c.Args().First(), c.Args().Tail()
			}
			return rolloutResumeRun(c.Context, sys, opts)
		},
	}
}

func rolloutResumeRun(ctx context.Context, sys *System, opts *rolloutReleaseOptions) error {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return err
	}
	req := rollout.Request{Resume: true}
	if opts.File != "" {
		if req.Plan, err = releasePublishPlan(ctx, sys, cn, &opts.releasePublishOptions); err != nil {
			return err
		}
	}
	if err := opts.Run.request(sys, cn, &req); err != nil {
		return err
	}
	return withRolloutRunner(ctx, sys, &opts.Conn, &opts.Run, opts.Output, func(r *rollout.Runner) error {
		if req.Plan == nil {
			if req.Plan, err = publishedPlan(ctx, sys, cn, r.Broker, opts); err != nil {
				return err
			}
		}
		_, err := r.Run(ctx, req)
		return err
	})
}

// publishedPlan is the plan of the rollout in progress's release, read
// back from where its stages published it, held to the trust policy.
func publishedPlan(ctx context.Context, sys *System, cn *connection, b rollout.Broker, opts *rolloutReleaseOptions) (*publish.Plan, error) {
	st, err := rollout.ReadState(ctx, b, b.Topics().RolloutState())
	if err != nil {
		return nil, err
	}
	if st == nil || !st.Active() {
		return nil, fmt.Errorf("%w: no rollout in progress to resume", rollout.ErrRefused)
	}
	m, payload, err := rollout.PublishedRelease(ctx, b, st)
	if err != nil {
		return nil, err
	}
	plan := &publish.Plan{Manifest: m, Payload: payload, Encoding: "cbor", Files: map[string]string{}}
	if bytes.HasPrefix(bytes.TrimSpace(payload), []byte("{")) {
		plan.Encoding = "json"
	}
	if plan.Strict, err = opts.Strict.resolve(sys, cn.Profile); err != nil {
		return nil, err
	}
	plan.Trust, err = opts.checkPublish(ctx, sys, cn, m, fmt.Sprintf("release %d", m.SequenceNumber))
	return plan, err
}
