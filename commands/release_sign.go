package commands

import (
	"context"
	"crypto"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/clihelp"
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
	opts := &releaseSignOptions{Signing: signingOptions{Flag: "--sign"}}
	// --sign, as release create and rollback name it; --key and -k were
	// its old names.
	signFlag := stringsFlag(&cli.StringSliceFlag{Name: "sign", Usage: "sign with `KEYREF` (repeatable)"}, &opts.Signing.Refs)
	return &cli.Command{
		Name:      "sign",
		Usage:     "add signatures to an existing manifest",
		UsageText: "otactl release sign MANIFEST --sign KEYREF [--sign KEYREF]... [--expires 720h|TIME] [--out FILE]",
		Description: `Adds one signature per --sign over the manifest's release digest and keeps
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
   $ otactl release sign release.json --sign release-key --sign file:ci-key.pem
   $ otactl release sign release.json --expires 720h --sign release-key
   $ otactl release sign release.json --sign 'exec:vault-sign.sh release' --signer-pubkey release.pub`,
		Flags: []cli.Flag{
			signFlag,
			clihelp.Deprecated("key", signFlag),
			clihelp.Deprecated("k", signFlag),
			signerPubkeyFlag(&opts.Signing.SignerPubkey),
			&cli.StringFlag{Name: "expires", Usage: "set a new expiry, as a duration from now (720h) or an RFC 3339 time; drops the existing signatures", Destination: &opts.Expires},
			&cli.StringFlag{Name: "out", Usage: "write to `FILE` instead of rewriting MANIFEST", Destination: &opts.Out},
			strictFlag(&opts.Strict),
		},
		Action: runWithArgs(1, "release sign", "expected one MANIFEST argument", "otactl release sign release.json --sign KEYREF", func(_ context.Context, args []string) error {
			if len(opts.Signing.Refs) == 0 {
				return withHint(usageErrorf("release sign: missing --sign KEYREF"), "otactl release sign release.json --sign KEYREF")
			}
			opts.File = args[0]
			return releaseSignRun(sys, opts)
		}),
	}
}

func releaseSignRun(sys *System, opts *releaseSignOptions) error {
	var signers []crypto.Signer
	a := amendment{Verb: "sign", File: opts.File, Out: opts.Out, Strict: &opts.Strict}
	return a.run(sys, func() (err error) {
		signers, err = opts.Signing.resolve(sys, nil)
		return err
	}, func(m *release.Manifest) error {
		return opts.newExpiry(sys, m)
	}, func(m *release.Manifest) (string, error) {
		for _, s := range signers {
			if err := m.Sign(s); err != nil {
				return "", err
			}
		}
		return "signed", nil
	})
}

// newExpiry gives m the --expires expiry, if one is given, and warns of
// the signatures that drops.
func (opts *releaseSignOptions) newExpiry(sys *System, m *release.Manifest) error {
	if opts.Expires == "" {
		return nil
	}
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
	return nil
}
