package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// release publish --wait: the publish, then the gate of rollout wait on
// exactly what it targeted (publish.WaitGate, publish.Targeted).

// waitFlags are --wait, --wait-package and the gate flags, the deadline
// as --wait-timeout (publish's --timeout is the broker's).
func waitFlags(opts *releasePublishOptions) []cli.Flag {
	return append([]cli.Flag{
		&cli.BoolFlag{Name: "wait", Usage: "then wait for the devices just targeted to update, as rollout wait does (exit 4 failed, 5 timed out)", Category: waitCategory, Destination: &opts.Wait},
		&cli.StringFlag{Name: "wait-package", Usage: "the `PACKAGE` the gate judges (default: the only component, or main)", Category: waitCategory, Destination: &opts.WaitPackage,
			Action: func(*cli.Context, string) error {
				opts.Gate.given = append(opts.Gate.given, "--wait-package")
				return nil
			}},
	}, gateFlags(&opts.Gate, "wait-timeout", waitCategory)...)
}

// checkWait refuses the gate flags without --wait, and --wait with
// --dry-run.
func (opts *releasePublishOptions) checkWait() error {
	if !opts.Wait {
		if len(opts.Gate.given) > 0 {
			return withHint(usageErrorf("release publish: %s is for --wait", opts.Gate.given[0]), "add --wait to wait for the devices just targeted")
		}
		return nil
	}
	if opts.Plan.DryRun {
		return usageErrorf("release publish: --wait with --dry-run: a dry run publishes nothing to wait for")
	}
	return nil
}

// publishWaitResult is what release publish --wait -o json prints.
// It is the publish report of release publish -o json with the gate's
// result under "gate", left out when the wait ended without a verdict.
type publishWaitResult struct {
	*publish.Report
	Gate *fleet.GateResult `json:"gate,omitempty"`
}

// publishAndWait publishes plan, then waits on the gate of what it
// targeted, on the same connection.
func publishAndWait(ctx context.Context, sys *System, opts *releasePublishOptions, plan *publish.Plan) error {
	base, err := opts.Gate.gate()
	if err != nil {
		return err
	}
	if opts.WaitPackage != "" {
		if err := release.ValidatePackage(opts.WaitPackage); err != nil {
			return usageErrorf("--wait-package: %v", err)
		}
	}
	if base, err = publish.WaitGate(plan, opts.WaitPackage, base); err != nil {
		return usageErrorf("release publish --wait: %v", err)
	}
	quiet := opts.Output == "json"
	w := newGateWait(sys, &opts.Gate, fmt.Sprintf("wait: %s %s", base.Package, base.Version))
	return opts.Conn.withEndpoints(ctx, sys, func(client *upload.Client, eps []publish.Endpoint) error {
		// The publish's group goes where its progress goes (standard
		// output unless -o json), so that the runner keeps them in order.
		group := w.gh
		if !quiet {
			group = output.NewGitHub(sys.Getenv, sys.Stdout)
		}
		group.Group(fmt.Sprintf("publish: release %d", plan.Manifest.SequenceNumber))
		p := newPublisher(sys, client, quiet)
		p.Endpoints = eps
		rep, err := p.Publish(ctx, plan)
		group.EndGroup()
		if err != nil {
			w.gh.Error("release publish failed", err.Error())
			if quiet {
				return writePartialJSON(sys, "release-publish", nil, err)
			}
			return err
		}
		g, err := publish.Targeted(base, rep)
		if err != nil {
			return waited(sys, w, quiet, rep, fleet.GateResult{}, err)
		}
		w.title += " on " + gateScope(g)
		fmt.Fprintf(sys.Stderr, "waiting for %s %s on %s (timeout %s)\n", g.Package, g.Version, gateScope(g), opts.Gate.Timeout)
		res, err := w.run(ctx, client, g, g.Cohorts, nil, time.Now(), nil)
		return waited(sys, w, quiet, rep, res, err)
	})
}

// waited ends a wait after publish rep: with -o json (quiet) it prints
// what was published, whatever ended the wait, with the gate's result
// when it has a verdict; then the wait's error, else the verdict's.
func waited(sys *System, w *gateWait, quiet bool, rep *publish.Report, res fleet.GateResult, err error) error {
	var werr error
	if quiet {
		doc := publishWaitResult{Report: rep}
		if res.Verdict != "" {
			gate := gateDocument(res)
			doc.Gate = &gate
		}
		werr = writeJSON(sys.Stdout, "release-publish", doc)
	}
	if err != nil {
		return withWriteError(err, werr)
	}
	return withWriteError(w.verdict(res, publishMarkdown(rep)), werr)
}

// gateScope names the devices a gate judges, in a few words.
func gateScope(g fleet.Gate) string {
	switch {
	case len(g.Devices) == 1:
		return "device " + g.Devices[0]
	case len(g.Devices) > 1:
		return fmt.Sprintf("%d devices", len(g.Devices))
	case len(g.Cohorts) == 1:
		return "cohort " + g.Cohorts[0]
	case len(g.Cohorts) > 1:
		return "cohorts " + strings.Join(g.Cohorts, ", ")
	}
	return "the fleet"
}

// publishMarkdown is what a publish did, for the GitHub step summary: the
// release, then one row per target.
func publishMarkdown(rep *publish.Report) string {
	rows := make([][]string, 0, len(rep.Targets))
	for _, t := range rep.Targets {
		rows = append(rows, []string{strings.TrimSpace(string(t.Kind) + " " + t.Name), t.Topic, t.Action})
	}
	return fmt.Sprintf("### publish: release %d\n\n`%s` (%s)\n\n", rep.SequenceNumber, rep.Hash, rep.Encoding) +
		output.MarkdownTable([]string{"target", "topic", "action"}, rows) + "\n"
}
