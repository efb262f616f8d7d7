package commands

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/release"
)

type releaseCreateOptions struct {
	Components []string
	Signing    signingOptions
	Out        string
	Output     string
	// Create takes --type, --sequence, --expires and
	// --allow-version-mismatch as they are.
	Create      release.CreateOptions
	BuildNumber string
	Strict      strictOption
}

func newReleaseCreateCommand(sys *System) *cli.Command {
	opts := &releaseCreateOptions{Signing: signingOptions{Flag: "--sign"}}
	return &cli.Command{
		Name:      "create",
		Usage:     "hash components and write a release manifest",
		UsageText: "otactl release create -c PACKAGE@VERSION=FILE[,type=TYPE] [-c ...] [--type TYPE] [--sequence N] [--expires 720h|TIME] [--sign KEYREF]... [--out FILE] [-o json]",
		Description: `Hashes each component file (SHA-256 and size, streamed, in parallel), builds
the manifest with a sequence number (default: the Unix time now, or
SOURCE_DATE_EPOCH) and the release digest, and signs it with every --sign key.
The manifest is written atomically to --out, or to standard output. With
-o json standard output gets one JSON document instead (docs/json.md):
the file written (with --out), the linter's warnings and the manifest.

A component is PACKAGE@VERSION=FILE, optionally followed by ,type=TYPE.
For an MCUboot image PACKAGE=FILE takes the version from the image header,
and a version that differs from the header is refused. A version never
holds '+': a build number in the header (imgtool's 1.2.3+4) is dropped,
giving 1.2.3, the version Zephyr and the Golioth SDK's samples report, or
with --build-number dot made a fourth number, 1.2.3.4.

The release is linted for devices on the Golioth firmware SDK (names over
16 characters, more than one component, a sequence number past int32, state
reports too long for the SDK's buffer): findings are warnings, and with
--strict (or OTACTL_STRICT, or the profile's strict) they refuse the
release before anything is written.

KEYREF is a keyring key NAME, file:PATH or env:VAR (env: alone reads
OTACTL_SIGNING_KEY), a PKCS#11 URI of a token key
('pkcs11:token=T;object=K', PIN from OTACTL_PKCS11_PIN or ?pin-source=FILE),
or exec:COMMAND, an external signer program given the release digest on
standard input, whose public key is --signer-pubkey (docs/keys.md).

Example:
   $ otactl release create -c main@1.2.3=build/zephyr.signed.bin --type mcuboot \
       --expires 720h --sign release-key --out release.json
   $ otactl release create -c main=build/zephyr.signed.bin -c modem@4.0.1=modem.bin,type=modem \
       --sign env:OTACTL_SIGNING_KEY > release.json
   $ otactl release create -c main@1.2.3=zephyr.signed.bin --out release.json \
       --sign 'exec:./sign-with-kms.sh' --signer-pubkey release.pub`,
		Flags: []cli.Flag{
			stringsFlag(&cli.StringSliceFlag{Name: "component", Aliases: []string{"c"}, Usage: "component `PACKAGE@VERSION=FILE[,type=TYPE]` (repeatable)", Required: true}, &opts.Components),
			&cli.StringFlag{Name: "type", Usage: "component type for components without their own, e.g. mcuboot", Destination: &opts.Create.DefaultType},
			&cli.Int64Flag{Name: "sequence", Usage: "sequence number (default: Unix time now, or SOURCE_DATE_EPOCH)", Destination: &opts.Create.Sequence},
			&cli.StringFlag{Name: "expires", Usage: "expiry as a duration from now (720h) or an RFC 3339 time", Destination: &opts.Create.Expires},
			stringsFlag(&cli.StringSliceFlag{Name: "sign", Usage: "sign with `KEYREF` (repeatable)"}, &opts.Signing.Refs),
			signerPubkeyFlag(&opts.Signing.SignerPubkey),
			&cli.StringFlag{Name: "out", Usage: "write the manifest to `FILE` (default: standard output)", Destination: &opts.Out},
			&cli.BoolFlag{Name: "allow-version-mismatch", Usage: "accept an MCUboot image whose header version differs from the component version", Destination: &opts.Create.AllowVersionMismatch},
			&cli.StringFlag{Name: "build-number", Usage: "how an MCUboot header's build number enters the version: drop (1.2.3+4 gives 1.2.3) or dot (1.2.3.4)", Value: "drop", Destination: &opts.BuildNumber},
			strictFlag(&opts.Strict),
			outputFlag(&opts.Output),
		},
		Action: runWithoutArgs("release create", "components are given with -c PACKAGE@VERSION=FILE", func(ctx context.Context) error {
			if opts.Create.Sequence < 0 {
				return usageErrorf("release create: --sequence must be positive")
			}
			if _, err := release.ParseBuildNumber(opts.BuildNumber); err != nil {
				return usageErrorf("release create: --build-number: %v", err)
			}
			return releaseCreateRun(ctx, sys, opts)
		}),
	}
}

func releaseCreateRun(ctx context.Context, sys *System, opts *releaseCreateOptions) error {
	specs := make([]release.Spec, 0, len(opts.Components))
	for _, s := range opts.Components {
		spec, err := release.ParseSpec(s)
		if err != nil {
			return usageErrorf("release create: %v", err)
		}
		specs = append(specs, spec)
	}
	// Check the output file and resolve every key before hashing gigabytes:
	// a bad --out or key reference fails fast.
	out := outFile{Flag: "--out", Path: opts.Out, Dash: true}
	toFile := opts.Out != "" && opts.Out != "-"
	if toFile {
		if err := out.check(); err != nil {
			return err
		}
	}
	signers, err := opts.Signing.resolve(sys, nil)
	if err != nil {
		return err
	}
	now, err := sys.buildTime()
	if err != nil {
		return err
	}
	strict, err := opts.Strict.resolve(sys, nil)
	if err != nil {
		return err
	}
	co := opts.Create
	co.Specs, co.Now = specs, now
	co.BuildNumber, _ = release.ParseBuildNumber(opts.BuildNumber) // checked by the action
	co.Strict = strict
	m, warnings, err := release.Create(ctx, co)
	for _, w := range warnings {
		fmt.Fprintln(sys.Stderr, "warning: "+w)
	}
	if err != nil {
		return err
	}
	for _, s := range signers {
		if err := m.Sign(s); err != nil {
			return err
		}
	}
	data, err := release.EncodeJSON(m)
	if err != nil {
		return err
	}
	if toFile {
		if err := out.write(data); err != nil {
			return err
		}
	}
	switch {
	case opts.Output == "json":
		res := releaseCreateResult{Warnings: append([]string{}, warnings...), Manifest: data}
		if toFile {
			res.File = opts.Out
		}
		return writeJSON(sys.Stdout, "release-create", res)
	case !toFile:
		_, err = sys.Stdout.Write(data)
		return err
	}
	fmt.Fprintf(sys.Stderr, "wrote %s: sequence %d, %s, %s, digest %s\n",
		opts.Out, m.SequenceNumber, text.Plural(len(m.Components), "component"), text.Plural(len(m.Signatures), "signature"), m.Hash)
	return nil
}

// releaseCreateResult is what release create -o json prints.
type releaseCreateResult struct {
	File     string          `json:"file,omitempty"` // --out; "" for none
	Warnings []string        `json:"warnings"`
	Manifest json.RawMessage `json:"manifest"`
}
