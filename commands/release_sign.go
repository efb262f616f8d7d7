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
	Signing signingOptions
	Out     string
	Expires string
	Strict  strictOption
}

func newReleaseSignCommand(sys *System) *cli.Command {
	opts := &releaseSignOptions{Signing: signingOptions{Flag: "--key"}}
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
   $ otactl release sign release.json --expires 720h --key release-key
   $ otactl release sign release.json --key 'exec:vault-sign.sh release' --signer-pubkey release.pub`,
		Flags: []cli.Flag{
			stringsFlag(&cli.StringSliceFlag{Name: "key", Aliases: []string{"k"}, Usage: "sign with `KEYREF` (repeatable)", Required: true}, &opts.Signing.Refs),
			signerPubkeyFlag(&opts.Signing.SignerPubkey),
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
	m, out, err := openAmend(sys, opts.File, opts.Out)
	if err != nil {
		return err
	}
	signers, err := opts.Signing.resolve(sys, nil)
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
	if err := checkSignable(sys, m, "sign", opts.File, strict); err != nil {
		return err
	}
	for _, s := range signers {
		if err := m.Sign(s); err != nil {
			return fmt.Errorf("sign %s: %w", opts.File, err)
		}
	}
	return writeAmended(sys, m, out, "signed")
}

// openAmend reads the manifest a command adds signatures to, and checks
// where it is to be written: MANIFEST itself in place, or out ("-" for
// standard output).
func openAmend(sys *System, file, outPath string) (*release.Manifest, outFile, error) {
	m, err := loadManifest(sys, file)
	if err != nil {
		return nil, outFile{}, err
	}
	out := outFile{Flag: "--out", Path: outPath, Dash: true}
	if outPath == "" {
		out = outFile{Path: file}
	}
	if out.Path != "-" {
		if err := out.check(); err != nil {
			return nil, outFile{}, err
		}
	}
	return m, out, nil
}

// checkSignable refuses to sign (verb) a manifest that was changed after
// it was sealed or has expired (exit 3) or, with strict, that the device-compatibility lint finds anything
// about; the lint's findings are warnings otherwise.
func checkSignable(sys *System, m *release.Manifest, verb, file string, strict bool) error {
	if err := m.CheckSealed(); err != nil {
		return fmt.Errorf("%s %s: %w", verb, file, err)
	}
	if err := m.CheckNotExpired(sys.Now()); err != nil {
		return withHint(fmt.Errorf("%s %s: %w: not signing a release devices would refuse", verb, file, err),
			"give it a new expiry with --expires 720h of 'otactl release sign' (this drops its signatures), or make a new release with 'otactl release create'")
	}
	findings, err := release.LintStrict(m, strict)
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, file, err)
	}
	for _, f := range findings {
		fmt.Fprintln(sys.Stderr, "warning: "+f.String())
	}
	return nil
}

// writeAmended writes the signed manifest m to out atomically, or to
// standard output, and says what was done (done: "signed") on stderr.
func writeAmended(sys *System, m *release.Manifest, out outFile, done string) error {
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
	fmt.Fprintf(sys.Stderr, "%s %s: %s\n", done, out.Path, text.Plural(len(m.Signatures), "signature"))
	return nil
}
