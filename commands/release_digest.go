package commands

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/urfave/cli/v2"
)

type releaseDigestOptions struct {
	File   string
	Raw    bool
	Base64 bool
	Output string
}

func newReleaseDigestCommand(sys *System) *cli.Command {
	opts := &releaseDigestOptions{}
	return &cli.Command{
		Name:      "digest",
		Usage:     "print the release digest a signature signs, for signing elsewhere",
		UsageText: "otactl release digest MANIFEST [--raw | --base64] [-o json]",
		Description: `Prints exactly what a signature signs: the 32 bytes of the manifest's release
digest (docs/protocol.md#signatures), in hex by default, as the raw bytes
with --raw (for 'openssl pkeyutl -sign -rawin' on an offline machine), or
in base64 with --base64. Sign them elsewhere, then add the signature with
'otactl release attach'. A manifest whose stored hash is not its content's
digest, and one that has expired, are refused with exit code 3: signing
them would be of no use.

Example:
   $ otactl release digest release.json
   $ otactl release digest release.json --raw > release.digest`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "raw", Usage: "write the 32 raw bytes (not to a terminal)", Destination: &opts.Raw},
			&cli.BoolFlag{Name: "base64", Usage: "write base64 instead of hex", Destination: &opts.Base64},
			outputFlag(&opts.Output),
		},
		Action: runWithArgs(1, "release digest", "expected one MANIFEST argument", "otactl release digest release.json", func(_ context.Context, args []string) error {
			if n := btoi(opts.Raw) + btoi(opts.Base64) + btoi(opts.Output == "json"); n > 1 {
				return usageErrorf("release digest: --raw, --base64 and -o json each choose the output: give one")
			}
			opts.File = args[0]
			return releaseDigestRun(sys, opts)
		}),
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// digestJSON is release digest's -o json.
type digestJSON struct {
	SequenceNumber int64  `json:"sequenceNumber"`
	Expires        string `json:"expires,omitempty"`
	Digest         string `json:"digest"`
	Base64         string `json:"base64"`
}

func releaseDigestRun(sys *System, opts *releaseDigestOptions) error {
	m, err := loadManifest(sys, opts.File)
	if err != nil {
		return err
	}
	if err := m.CheckSealed(); err != nil {
		return fmt.Errorf("digest %s: %w", opts.File, err)
	}
	if err := m.CheckNotExpired(sys.Now()); err != nil {
		return withHint(fmt.Errorf("digest %s: %w: devices would refuse it whatever its signatures", opts.File, err),
			"give it a new expiry with 'otactl release sign --expires 720h' first")
	}
	d := m.Digest()
	switch {
	case opts.Raw && sys.StdoutTTY:
		return withHint(fmt.Errorf("digest %s: --raw writes 32 binary bytes, not to a terminal", opts.File),
			"redirect standard output to a file: otactl release digest "+opts.File+" --raw > release.digest")
	case opts.Raw:
		_, err = sys.Stdout.Write(d[:])
	case opts.Base64:
		_, err = fmt.Fprintln(sys.Stdout, base64.StdEncoding.EncodeToString(d[:]))
	case opts.Output == "json":
		err = writeJSON(sys.Stdout, "release-digest", digestJSON{SequenceNumber: m.SequenceNumber, Expires: m.Expires,
			Digest: m.Hash, Base64: base64.StdEncoding.EncodeToString(d[:])})
	default:
		_, err = fmt.Fprintln(sys.Stdout, m.Hash)
	}
	return err
}

// digestHint is the next step after a signature that does not match a
// manifest's digest.
func digestHint(file string) string {
	return "sign the digest 'otactl release digest " + file + "' prints now: a manifest changed since (a new expiry, another sequence) has another digest, and the signature must be by the --pubkey key"
}
