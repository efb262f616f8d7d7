package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/keys"
)

type keyExportOptions struct {
	Ref    string
	Format string
	Out    string
}

func newKeyExportCommand(sys *System) *cli.Command {
	opts := &keyExportOptions{}
	return &cli.Command{
		Name:      "export",
		Usage:     "print a key's public part (PEM, DER or a C header for firmware)",
		UsageText: "otactl key export KEYREF [--format pem|der|c] [--out FILE]",
		Description: `Exports the public key only; the private key never leaves the keyring.
KEYREF is a keyring NAME, file:PATH, env:VAR or a pkcs11: URI of a token key (no PIN
needed); a public key file works too. --format c writes a C header with the raw public
key bytes, for firmware that verifies manifests.

Example:
   $ otactl key export release-key > release-key.pub.pem
   $ otactl key export 'pkcs11:token=release-hsm;object=release' --out release.pub.pem
   $ otactl key export release-key --format c --out include/release_key.h`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "pem, der or c", Value: "pem", Destination: &opts.Format},
			&cli.StringFlag{Name: "out", Usage: "write to `FILE` instead of standard output", Destination: &opts.Out},
		},
		Action: runWithArgs(1, "key export", "expected one KEYREF", "", func(_ context.Context, args []string) error {
			switch opts.Format {
			case "pem", "der", "c":
			default:
				return usageErrorf("key export: unknown format %q: use pem, der or c", opts.Format)
			}
			opts.Ref = args[0]
			return keyExportRun(sys, opts)
		}),
	}
}

func keyExportRun(sys *System, opts *keyExportOptions) error {
	getenv, err := keyEnv(sys.Getenv, nil, []string{opts.Ref})
	if err != nil {
		return fmt.Errorf("key export: %w", err)
	}
	pub, err := keys.ResolvePublicEnv(opts.Ref, sys.keyStore(), getenv)
	if err != nil {
		return keyRefError("key export", true, err)
	}
	data, err := keys.ExportPublic(pub, opts.Format, exportName(opts.Ref))
	if err != nil {
		return fmt.Errorf("key export: %w", err)
	}
	if opts.Out == "" || opts.Out == "-" {
		_, err = sys.Stdout.Write(data)
		return err
	}
	return outFile{Flag: "--out", Path: opts.Out, Dash: true}.write(data)
}

// exportName is the name a C header gives the key: the keyring name, or
// "signing_key" for file:, env: and pkcs11: references.
func exportName(ref string) string {
	if err := keys.ValidateKeyName(ref); err == nil {
		return ref
	}
	return "signing_key"
}
