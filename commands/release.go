package commands

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/release"
)

func newReleaseCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:  "release",
		Usage: "create, sign, verify, show and publish release manifests",
		Subcommands: []*cli.Command{
			newReleaseCreateCommand(sys),
			newReleaseSignCommand(sys),
			newReleaseVerifyCommand(sys),
			newReleaseShowCommand(sys),
			newReleasePublishCommand(sys),
			newReleaseListCommand(sys),
			newReleaseCurrentCommand(sys),
			newReleaseRollbackCommand(sys),
			newReleaseUnpublishCommand(sys),
		},
	}
}

type releaseCreateOptions struct {
	Components           []string
	Type                 string
	Sequence             int64
	Expires              string
	Sign                 []string
	Out                  string
	AllowVersionMismatch bool
}

func newReleaseCreateCommand(sys *System) *cli.Command {
	opts := &releaseCreateOptions{}
	var components, sign cli.StringSlice
	return &cli.Command{
		Name:      "create",
		Usage:     "hash components and write a release manifest",
		UsageText: "otactl release create -c PACKAGE@VERSION=FILE[,type=TYPE] [-c ...] [--type TYPE] [--sequence N] [--expires 720h|TIME] [--sign KEYREF]... [--out FILE]",
		Description: `Hashes each component file (SHA-256 and size, streamed, in parallel), builds
the manifest with a sequence number (default: the Unix time now, or
SOURCE_DATE_EPOCH) and the release digest, and signs it with every --sign key.
The manifest is written atomically to --out, or to standard output.

A component is PACKAGE@VERSION=FILE, optionally followed by ,type=TYPE.
For an MCUboot image PACKAGE=FILE takes the version from the image header,
and a version that differs from the header is refused.

KEYREF is a keyring key NAME, file:PATH or env:VAR (env: alone reads
OTACTL_SIGNING_KEY).

Example:
   $ otactl release create -c main@1.2.3=build/zephyr.signed.bin --type mcuboot \
       --expires 720h --sign release-key --out release.json
   $ otactl release create -c main=build/zephyr.signed.bin -c modem@4.0.1=modem.bin,type=modem \
       --sign env:OTACTL_SIGNING_KEY > release.json`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "component", Aliases: []string{"c"}, Usage: "component `PACKAGE@VERSION=FILE[,type=TYPE]` (repeatable)", Destination: &components, Required: true},
			&cli.StringFlag{Name: "type", Usage: "component type for components without their own, e.g. mcuboot", Destination: &opts.Type},
			&cli.Int64Flag{Name: "sequence", Usage: "sequence number (default: Unix time now, or SOURCE_DATE_EPOCH)", Destination: &opts.Sequence},
			&cli.StringFlag{Name: "expires", Usage: "expiry as a duration from now (720h) or an RFC 3339 time", Destination: &opts.Expires},
			&cli.StringSliceFlag{Name: "sign", Usage: "sign with `KEYREF` (repeatable)", Destination: &sign},
			&cli.StringFlag{Name: "out", Usage: "write the manifest to `FILE` (default: standard output)", Destination: &opts.Out},
			&cli.BoolFlag{Name: "allow-version-mismatch", Usage: "accept an MCUboot image whose header version differs from the component version", Destination: &opts.AllowVersionMismatch},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("release create: unexpected argument %q\nhint: components are given with -c PACKAGE@VERSION=FILE", c.Args().First())
			}
			if opts.Sequence < 0 {
				return usageErrorf("release create: --sequence must be positive")
			}
			opts.Components = components.Value()
			opts.Sign = sign.Value()
			return releaseCreateRun(c.Context, sys, opts)
		},
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
	signers, err := resolveSigners(sys, opts.Sign)
	if err != nil {
		return err
	}
	now, err := sys.buildTime()
	if err != nil {
		return err
	}
	m, warnings, err := release.Create(ctx, release.CreateOptions{
		Specs:                specs,
		DefaultType:          opts.Type,
		Sequence:             opts.Sequence,
		Now:                  now,
		Expires:              opts.Expires,
		AllowVersionMismatch: opts.AllowVersionMismatch,
	})
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(sys.Stderr, "warning: "+w)
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
	if !toFile {
		_, err = sys.Stdout.Write(data)
		return err
	}
	if err := out.write(data); err != nil {
		return err
	}
	fmt.Fprintf(sys.Stderr, "wrote %s: sequence %d, %s, %s, digest %s\n",
		opts.Out, m.SequenceNumber, plural(len(m.Components), "component"), plural(len(m.Signatures), "signature"), m.Hash)
	return nil
}

type releaseSignOptions struct {
	File    string
	Keys    []string
	Out     string
	Expires string
}

func newReleaseSignCommand(sys *System) *cli.Command {
	opts := &releaseSignOptions{}
	var keyRefs cli.StringSlice
	return &cli.Command{
		Name:      "sign",
		Usage:     "add signatures to an existing manifest",
		UsageText: "otactl release sign MANIFEST --key KEYREF [--key KEYREF]... [--expires 720h|TIME] [--out FILE]",
		Description: `Adds one signature per --key over the manifest's release digest and keeps
everything else as it is. A signature by the same key is replaced. The
manifest is rewritten atomically in place, or written to --out ("-" for
standard output). A manifest whose stored hash does not match its content,
and one that has expired, are refused with exit code 3.

--expires gives the manifest a new expiry (a duration from now, or an RFC
3339 time) before signing. The expiry is part of the release digest, so
this drops every signature it had: sign again with every key devices need.

Example:
   $ otactl release sign release.json --key release-key --key file:ci-key.pem
   $ otactl release sign release.json --expires 720h --key release-key`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "key", Aliases: []string{"k"}, Usage: "sign with `KEYREF` (repeatable)", Destination: &keyRefs, Required: true},
			&cli.StringFlag{Name: "expires", Usage: "set a new expiry, as a duration from now (720h) or an RFC 3339 time; drops the existing signatures", Destination: &opts.Expires},
			&cli.StringFlag{Name: "out", Usage: "write to `FILE` instead of rewriting MANIFEST", Destination: &opts.Out},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErrorf("release sign: expected one MANIFEST argument\nhint: otactl release sign release.json --key KEYREF")
			}
			opts.File = c.Args().First()
			opts.Keys = keyRefs.Value()
			return releaseSignRun(sys, opts)
		},
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
			fmt.Fprintf(sys.Stderr, "warning: the new expiry changes the release digest: dropped %s; sign again with every key devices need\n", plural(dropped, "signature"))
		}
	}
	if err := m.CheckNotExpired(sys.Now()); err != nil {
		return withHint(fmt.Errorf("sign %s: %w: not signing a release devices would refuse", opts.File, err),
			"give it a new expiry with --expires 720h (this drops its signatures), or make a new release with 'otactl release create'")
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
	fmt.Fprintf(sys.Stderr, "signed %s: %s\n", out.Path, plural(len(m.Signatures), "signature"))
	return nil
}

type releaseVerifyOptions struct {
	File         string
	PubKeys      []string
	Threshold    int
	ArtifactsDir string
	Artifacts    []string
	At           string
	Output       string
}

func newReleaseVerifyCommand(sys *System) *cli.Command {
	opts := &releaseVerifyOptions{}
	var pubkeys cli.StringSlice
	return &cli.Command{
		Name:      "verify",
		Usage:     "check a manifest's digest, signatures, expiry and artifacts",
		UsageText: "otactl release verify MANIFEST [--pubkey FILE|NAME]... [--threshold N] [--artifacts DIR | FILE...] [--at TIME] [-o json]",
		Description: `Recomputes the release digest, checks every signature made by a given key,
requires at least --threshold valid signatures from distinct keys (default 1
when a key is given), checks expiry at --at (default now) and, for artifact
files, their size and SHA-256. Exit 0 when all hold, 3 naming what failed.

Artifact files are matched to components by an explicit PACKAGE=FILE, by
name (PACKAGE@VERSION or PACKAGE, with any extension), or by content.

Example:
   $ otactl release verify release.json --pubkey release-key.pub.pem build/zephyr.signed.bin
   $ otactl release verify release.json --pubkey release-key --pubkey backup-key --threshold 2 -o json`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "pubkey", Aliases: []string{"p"}, Usage: "trusted public key: a PEM `FILE` or a keyring key NAME (repeatable)", Destination: &pubkeys},
			&cli.IntFlag{Name: "threshold", Usage: "valid signatures needed from distinct keys (default 1 with --pubkey)", Destination: &opts.Threshold},
			&cli.StringFlag{Name: "artifacts", Usage: "folder holding the component files", Destination: &opts.ArtifactsDir},
			&cli.StringFlag{Name: "at", Usage: "check expiry at this RFC 3339 `TIME` instead of now", Destination: &opts.At},
			outputFlag(&opts.Output),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() < 1 {
				return usageErrorf("release verify: expected a MANIFEST argument\nhint: otactl release verify release.json --pubkey key.pem")
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if opts.Threshold < 0 {
				return usageErrorf("release verify: --threshold must not be negative")
			}
			opts.File = c.Args().First()
			opts.Artifacts = c.Args().Tail()
			opts.PubKeys = pubkeys.Value()
			return releaseVerifyRun(c.Context, sys, opts)
		},
	}
}

func releaseVerifyRun(ctx context.Context, sys *System, opts *releaseVerifyOptions) error {
	at := sys.Now()
	if opts.At != "" {
		t, err := time.Parse(time.RFC3339, opts.At)
		if err != nil {
			return usageErrorf("release verify: --at %q is not an RFC 3339 time like 2026-12-01T00:00:00Z", opts.At)
		}
		at = t
	}
	m, err := loadManifest(sys, opts.File)
	if err != nil {
		return err
	}
	pubs, err := resolvePublicKeys(sys, opts.PubKeys)
	if err != nil {
		return err
	}
	verdict := release.Verify(ctx, m, release.VerifyOptions{
		Keys:         pubs,
		Threshold:    opts.Threshold,
		At:           at,
		Artifacts:    opts.Artifacts,
		ArtifactsDir: opts.ArtifactsDir,
	})
	if opts.Output == "json" {
		if err := writeJSON(sys.Stdout, verdict); err != nil {
			return err
		}
		if err := verdict.Err(); err != nil {
			// The verdict on stdout says what failed; keep stderr to one line.
			return withExitCode(ExitVerification, fmt.Errorf("%s: verification failed", opts.File))
		}
		return nil
	}
	if err := verdict.Err(); err != nil {
		return fmt.Errorf("%s: %w", opts.File, err)
	}
	fmt.Fprintf(sys.Stdout, "%s: ok (digest %s, %s valid, %s checked)\n",
		opts.File, m.Hash, plural(verdict.ValidSignatures, "signature"), plural(len(verdict.Artifacts), "artifact"))
	return nil
}

type releaseShowOptions struct {
	File   string
	Output string
}

func newReleaseShowCommand(sys *System) *cli.Command {
	opts := &releaseShowOptions{}
	return &cli.Command{
		Name:      "show",
		Usage:     "print a readable summary of a manifest",
		UsageText: "otactl release show MANIFEST [-o json]",
		Description: `Prints the sequence number (and the time it encodes), the digest, the expiry,
the components with sizes and the signatures with key ids. MANIFEST may be
JSON or CBOR, or "-" for standard input. With -o json prints the manifest.

Example:
   $ otactl release show release.json
   $ otactl release show release.json -o json | jq .components`,
		Flags: []cli.Flag{outputFlag(&opts.Output)},
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErrorf("release show: expected one MANIFEST argument")
			}
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			opts.File = c.Args().First()
			return releaseShowRun(sys, opts)
		},
	}
}

func releaseShowRun(sys *System, opts *releaseShowOptions) error {
	m, err := loadManifest(sys, opts.File)
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		data, err := release.EncodeJSON(m)
		if err != nil {
			return err
		}
		_, err = sys.Stdout.Write(data)
		return err
	}
	return output.WriteManifest(sys.Stdout, m, sys.Now(), sys.StdoutTTY)
}

// loadManifest reads and parses a manifest file ("-" for standard input).
func loadManifest(sys *System, path string) (*release.Manifest, error) {
	if path != "-" && pastedSecret(path) {
		return nil, usageErrorf("MANIFEST looks like key material, not a path\nhint: keys are given with --sign, --key or --pubkey as NAME, file:PATH or env:VAR")
	}
	data, err := readInput(sys, path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("manifest %s does not exist", path)
		}
		return nil, err
	}
	m, err := release.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return m, nil
}

// resolveSigners resolves the --sign key references. Errors name the flag;
// keys shows a reference only when it is well-formed, never key material.
func resolveSigners(sys *System, refs []string) ([]crypto.Signer, error) {
	return resolveSignersFlag(sys, "--sign", refs)
}

// resolveSignersFlag resolves the key references given with flag.
func resolveSignersFlag(sys *System, flag string, refs []string) ([]crypto.Signer, error) {
	var signers []crypto.Signer
	for _, ref := range refs {
		s, err := keys.ResolveSigner(ref, sys.keyStore(), sys.Getenv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		signers = append(signers, s)
	}
	return signers, nil
}

// resolvePublicKeys resolves the --pubkey references (given or from the
// profile), naming the flag in errors as resolveSigners does.
func resolvePublicKeys(sys *System, refs []string) ([]crypto.PublicKey, error) {
	var pubs []crypto.PublicKey
	for _, ref := range refs {
		p, err := keys.ResolvePublicEnv(ref, sys.keyStore(), sys.Getenv)
		if err != nil {
			return nil, fmt.Errorf("--pubkey: %w", err)
		}
		pubs = append(pubs, p)
	}
	return pubs, nil
}

func plural(n int, word string) string {
	return strconv.Itoa(n) + " " + pluralWord(n, word)
}

func pluralWord(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
