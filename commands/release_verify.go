package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/release"
)

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
	return &cli.Command{
		Name:      "verify",
		Usage:     "check a manifest's digest, signatures, expiry and artifacts",
		UsageText: "otactl release verify MANIFEST [--pubkey FILE|NAME]... [--threshold N] [--artifacts DIR | FILE...] [--at TIME] [-o json]",
		Description: `Recomputes the release digest, checks every signature made by a given key,
requires at least --threshold valid signatures from distinct keys (default 1
when a key is given), checks expiry at --at (default now) and, for artifact
files, their size and SHA-256. Exit 0 when all hold, 3 naming what failed,
1 when an artifact file cannot be read.

Artifact files are matched to components by an explicit PACKAGE=FILE, by
name (PACKAGE@VERSION or PACKAGE, with any extension), or by content.

Example:
   $ otactl release verify release.json --pubkey release-key.pub.pem build/zephyr.signed.bin
   $ otactl release verify release.json --pubkey release-key --pubkey backup-key --threshold 2 -o json`,
		Flags: []cli.Flag{
			stringsFlag(&cli.StringSliceFlag{Name: "pubkey", Aliases: []string{"p"}, Usage: "trusted public key: a PEM `FILE` or a keyring key NAME (repeatable)"}, &opts.PubKeys),
			&cli.IntFlag{Name: "threshold", Usage: "valid signatures needed from distinct keys (default 1 with --pubkey)", Destination: &opts.Threshold},
			&cli.StringFlag{Name: "artifacts", Usage: "folder holding the component files", Destination: &opts.ArtifactsDir},
			&cli.StringFlag{Name: "at", Usage: "check expiry at this RFC 3339 `TIME` instead of now", Destination: &opts.At},
			outputFlag(&opts.Output),
		},
		Action: runWithManifest("release verify", "otactl release verify release.json --pubkey key.pem", func(ctx context.Context, manifest string, files []string) error {
			if opts.Threshold < 0 {
				return usageErrorf("release verify: --threshold must not be negative")
			}
			opts.File, opts.Artifacts = manifest, files
			return releaseVerifyRun(ctx, sys, opts)
		}),
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
		if err := writeJSON(sys.Stdout, "release-verify", verdict); err != nil {
			return err
		}
		if err := verdict.Err(); errors.Is(err, release.ErrVerification) {
			// The verdict on stdout says what failed; keep stderr to one line.
			return withExitCode(ExitVerification, fmt.Errorf("%s: verification failed", opts.File))
		} else if err != nil {
			return fmt.Errorf("%s: %w", opts.File, err)
		}
		return nil
	}
	if err := verdict.Err(); err != nil {
		return fmt.Errorf("%s: %w", opts.File, err)
	}
	fmt.Fprintf(sys.Stdout, "%s: ok (digest %s, %s valid, %s checked)\n",
		opts.File, m.Hash, text.Plural(verdict.ValidSignatures, "signature"), text.Plural(len(verdict.Artifacts), "artifact"))
	return nil
}
