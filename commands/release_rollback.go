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
	targetedOptions
	Sign         cli.StringSlice
	SignerPubkey string
	Expires      string
	// Request takes --to, --sequence, --encoding, --force and --dry-run
	// as they are.
	Request publish.RollbackRequest
	Strict  strictOption
}

func newReleaseRollbackCommand(sys *System) *cli.Command {
	opts := &releaseRollbackOptions{}
	flags := opts.flags(false,
		&cli.Int64Flag{Name: "to", Usage: "`SEQUENCE` of the catalog release to go back to", Destination: &opts.Request.To, Required: true},
		&cli.StringSliceFlag{Name: "sign", Usage: "sign the new manifest with `KEYREF`: a keyring NAME, file:PATH, env:VAR, pkcs11: URI or exec:COMMAND (repeatable)", Destination: &opts.Sign},
		signerPubkeyFlag(&opts.SignerPubkey),
		&cli.Int64Flag{Name: "sequence", Usage: "sequence number of the new manifest (default: now, or above what the targets retain)", Destination: &opts.Request.Sequence},
		&cli.StringFlag{Name: "expires", Usage: "expiry: a duration like 720h or an RFC 3339 time", Destination: &opts.Expires},
		&cli.StringFlag{Name: "encoding", Usage: "json or cbor (default: the encoding the release was published with)", Destination: &opts.Request.Encoding},
		&cli.BoolFlag{Name: "force", Usage: "publish over a higher sequence number", Destination: &opts.Request.Force},
		dryRunFlag(&opts.Request.DryRun),
		strictFlag(&opts.Strict),
		verifyBrokerFlag(&opts.Conn),
	)
	return &cli.Command{
		Name:      "rollback",
		Usage:     "publish an earlier release again under a new sequence number",
		UsageText: "otactl release rollback --to SEQUENCE --sign KEYREF [--cohort NAME... | --device ID...] [--sequence N] [--strict] [--dry-run] [connection flags] [-o json]",
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
		Action: runWithoutArgs("release rollback", "", func(ctx context.Context) error {
			if opts.Request.To <= 0 {
				return usageErrorf("release rollback: --to must be a positive sequence number")
			}
			if enc := opts.Request.Encoding; enc != "" && enc != "json" && enc != "cbor" {
				return usageErrorf("release rollback: --encoding must be json or cbor, not %q", enc)
			}
			return releaseRollbackRun(ctx, sys, opts)
		}),
	}
}

func releaseRollbackRun(ctx context.Context, sys *System, opts *releaseRollbackOptions) error {
	req, err := releaseRollbackRequest(sys, opts)
	if err != nil {
		return err
	}
	return opts.publishWith(ctx, sys, "release-rollback", func(p *publish.Publisher, quiet bool) (any, error) {
		plan, err := p.PlanRollback(ctx, *req)
		if err != nil {
			return nil, err
		}
		if !quiet {
			fmt.Fprintf(sys.Stdout, "rollback to release %d as sequence %d\n", opts.Request.To, plan.Manifest.SequenceNumber)
		}
		return p.Publish(ctx, plan)
	})
}

// releaseRollbackRequest maps the flags to a rollback request, checking
// them before any network traffic.
func releaseRollbackRequest(sys *System, opts *releaseRollbackOptions) (*publish.RollbackRequest, error) {
	cn, err := opts.Conn.resolve(sys)
	if err != nil {
		return nil, err
	}
	req := opts.Request
	if req.Strict, err = opts.Strict.resolve(sys, cn.Profile); err != nil {
		return nil, err
	}
	if req.Targets, err = opts.Targets.resolve(cn.topics()); err != nil {
		return nil, err
	}
	signing := signingOptions{Flag: "--sign", Refs: opts.Sign.Value(), SignerPubkey: opts.SignerPubkey}
	if req.Signers, err = signing.resolve(sys, cn.Profile); err != nil {
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
	if req.Trust, err = trustPolicy(sys, cn, nil, 0, nil); err != nil {
		return nil, fmt.Errorf("rollback manifest: %w", err)
	}
	return &req, nil
}
