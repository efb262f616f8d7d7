package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/release"
)

type releaseSignOptions struct {
	File    string
	Keys    []string
	Out     string
	Expires string
	Strict  strictOption
}

func newReleaseSignCommand(sys *System) *cli.Command {
	opts := &releaseSignOptions{}
	return &cli.Command{
		Name:      "sign",
		Usage:     "add signatures to an existing manifest",
		UsageText: "otactl release sign MANIFEST --key KEYREF [--key KEYREF]... [--expires 720h|TIME] [--out FILE]",
		Description: `Adds one signature per --key over the manifest's release digest and keeps
everything else as it is. A signature by the same key is replaced. The
manifest is rewritten atomically in place, or written to --out ("-" for
standard output). A manifest whose stored hash does not match its content,
and one that has expired, are refused with exit code 3.

The manifest is linted for devices on the Golioth firmware SDK, as by
'release create': findings are warnings, and with --strict (or
OTACTL_STRICT, or the profile's strict) they refuse it before anything is
written.

--expires gives the manifest a new expiry (a duration from now, or an RFC
3339 time) before signing. The expiry is part of the release digest, so
this drops every signature it had: sign again with every key devices need.

Example:
   $ otactl release sign release.json --key release-key --key file:ci-key.pem
   $ otactl release sign release.json --expires 720h --key release-key`,
		Flags: []cli.Flag{
			stringsFlag(&cli.StringSliceFlag{Name: "key", Aliases: []string{"k"}, Usage: "sign with `KEYREF` (repeatable)", Required: true}, &opts.Keys),
			&cli.StringFlag{Name: "expires", Usage: "set a new expiry, as a duration from now (720h) or an RFC 3339 time; drops the existing signatures", Destination: &opts.Expires},
			&cli.StringFlag{Name: "out", Usage: "write to `FILE` instead of rewriting MANIFEST", Destination: &opts.Out},
			strictFlag(&opts.Strict),
		},
		Action: runWithArgs(1, "release sign", "expected one MANIFEST argument", "otactl release sign release.json --key KEYREF", func(_ context.Context, args []string) error {
			opts.File = args[0]
			return releaseSignRun(sys, opts)
		}),
	}
}

func releaseSignRun(sys *System, opts *releaseSignOptions) error {
	m, err := loadManifest(sys, opts.File)
	if err != nil {
		return err
	}
	out := outFile{Flag: "--out", Path: opts.Out, Dash: true}
	if opts.Out == "" {
		out = outFile{Path: opts.File}
	}
	if out.Path != "-" {
		if err := out.check(); err != nil {
			return err
		}
	}
	signers, err := resolveSignersFlag(sys, "--key", opts.Keys)
	if err != nil {
		return err
	}
	strict, err := opts.Strict.resolve(sys, nil)
	if err != nil {
		return err
	}
	if opts.Expires != "" {
		base, err := sys.buildTime()
		if err != nil {
			return err
		}
		exp, err := release.ExpiryTime(opts.Expires, base)
		if err != nil {
			return usageErrorf("release sign: --expires: %v", err)
		}
		dropped, err := m.SetExpiry(exp)
		if err != nil {
			return fmt.Errorf("sign %s: %w", opts.File, err)
		}
		if dropped > 0 {
			fmt.Fprintf(sys.Stderr, "warning: the new expiry changes the release digest: dropped %s; sign again with every key devices need\n", text.Plural(dropped, "signature"))
		}
	}
	if err := m.CheckNotExpired(sys.Now()); err != nil {
		return withHint(fmt.Errorf("sign %s: %w: not signing a release devices would refuse", opts.File, err),
			"give it a new expiry with --expires 720h (this drops its signatures), or make a new release with 'otactl release create'")
	}
	findings, err := release.LintStrict(m, strict)
	if err != nil {
		return fmt.Errorf("sign %s: %w", opts.File, err)
	}
	for _, f := range findings {
		fmt.Fprintln(sys.Stderr, "warning: "+f.String())
	}
	for _, s := range signers {
		if err := m.Sign(s); err != nil {
			return fmt.Errorf("sign %s: %w", opts.File, err)
		}
	}
	data, err := release.EncodeJSON(m)
	if err != nil {
		return err
	}
	if out.Path == "-" {
		_, err = sys.Stdout.Write(data)
		return err
	}
	if err := out.write(data); err != nil {
		return err
	}
	fmt.Fprintf(sys.Stderr, "signed %s: %s\n", out.Path, text.Plural(len(m.Signatures), "signature"))
	return nil
}
