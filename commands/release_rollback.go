package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
)

type releaseRollbackOptions struct {
	Conn       connectOptions
	Targets    targetOptions
	To         int64
	Sequence   int64
	Expires    string
	Sign       cli.StringSlice
	Encoding   string
	Force      bool
	DryRun     bool
	MaxPayload string
	Output     string
	Strict     strictOption
}

func newReleaseRollbackCommand(sys *System) *cli.Command {
	opts := &releaseRollbackOptions{}
	flags := []cli.Flag{
		&cli.Int64Flag{Name: "to", Usage: "`SEQUENCE` of the catalog release to go back to", Destination: &opts.To, Required: true},
		&cli.StringSliceFlag{Name: "sign", Usage: "sign the new manifest with `KEYREF`: a keyring NAME, file:PATH or env:VAR (repeatable)", Destination: &opts.Sign},
		&cli.Int64Flag{Name: "sequence", Usage: "sequence number of the new manifest (default: now, or above what the targets retain)", Destination: &opts.Sequence},
		&cli.StringFlag{Name: "expires", Usage: "expiry: a duration like 720h or an RFC 3339 time", Destination: &opts.Expires},
		&cli.StringFlag{Name: "encoding", Usage: "json or cbor (default: the encoding the release was published with)", Destination: &opts.Encoding},
		&cli.BoolFlag{Name: "force", Usage: "publish over a higher sequence number", Destination: &opts.Force},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan and send nothing", Destination: &opts.DryRun},
		strictFlag(&opts.Strict),
		outputFlag(&opts.Output),
	}
	flags = append(flags, targetFlags(&opts.Targets, false)...)
	flags = append(flags, connectFlags(&opts.Conn)...)
	return &cli.Command{
		Name:      "rollback",
		Usage:     "publish an earlier release again under a new sequence number",
		UsageText: "otactl release rollback --to SEQUENCE --sign KEYREF [--cohort NAME | --device ID...] [--sequence N] [--strict] [--dry-run] [connection flags] [-o json]",
		Description: `Takes the components of an earlier release from the catalog, builds a new
manifest with a new sequence number (the time now, or one above what the
targets retain), signs it with every --sign key and publishes it as
'release publish' does: devices switch because the version differs. The
components' bytes must still be on the broker; they are read back first.
The new manifest is linted as 'release publish' lints (a --sequence past
2147483647 is a finding), and --strict refuses it before anything is sent.

Example:
   $ otactl release list
   $ otactl release rollback --to 1767225600 --sign release-key
   $ otactl release rollback --to 1767225600 --sign env:OTACTL_SIGNING_KEY --cohort canary -o json`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if err := noArgs(c, "release rollback", ""); err != nil {
				return err
			}
			if opts.To <= 0 {
				return usageErrorf("release rollback: --to must be a positive sequence number")
			}
			if opts.Encoding != "" && opts.Encoding != "json" && opts.Encoding != "cbor" {
				return usageErrorf("release rollback: --encoding must be json or cbor, not %q", opts.Encoding)
			}
			return releaseRollbackRun(c.Context, sys, opts)
		},
	}
}

func releaseRollbackRun(ctx context.Context, sys *System, opts *releaseRollbackOptions) error {
	req, err := releaseRollbackRequest(sys, opts)
	if err != nil {
		return err
	}
	client, _, err := opts.Conn.open(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	quiet := opts.Output == "json"
	p := newPublisher(sys, client, quiet)
	plan, err := p.PlanRollback(ctx, *req)
	if err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(sys.Stdout, "rollback to release %d as sequence %d\n", opts.To, plan.Manifest.SequenceNumber)
	}
	rep, err := p.Publish(ctx, plan)
	if err != nil {
		return err
	}
	if quiet {
		return writeJSON(sys.Stdout, rep)
	}
	return nil
}

// releaseRollbackRequest maps the flags to a rollback request, checking
// them before any network traffic.
func releaseRollbackRequest(sys *System, opts *releaseRollbackOptions) (*publish.RollbackRequest, error) {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return nil, err
	}
	req := &publish.RollbackRequest{To: opts.To, Sequence: opts.Sequence, Encoding: opts.Encoding, Force: opts.Force, DryRun: opts.DryRun}
	if req.Strict, err = opts.Strict.resolve(sys, cn.Profile); err != nil {
		return nil, err
	}
	if req.Targets, err = opts.Targets.resolve(cn.topics()); err != nil {
		return nil, err
	}
	if req.Signers, err = resolveSigners(sys, opts.Sign.Value()); err != nil {
		return nil, err
	}
	if req.BuiltAt, err = sys.buildTime(); err != nil {
		return nil, err
	}
	if opts.Expires != "" {
		t, err := release.ExpiryTime(opts.Expires, req.BuiltAt)
		if err != nil {
			return nil, usageErrorf("release rollback: --expires: %v", err)
		}
		req.Expires = t.UTC().Format(time.RFC3339)
	}
	// The profile's policy: a rollback has no --pubkey.
	if req.Trust, err = trustPolicy(sys, cn, nil, 0); err != nil {
		return nil, fmt.Errorf("rollback manifest: %w", err)
	}
	return req, nil
}
