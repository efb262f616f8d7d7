package commands

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/release"
)

type releaseAttachOptions struct {
	File, Out string
	// Pubkey and Signature name the key and the signature file; Encoding
	// is --signature-encoding ("" tries each).
	Pubkey, Signature, Encoding string
	Strict                      strictOption
}

func newReleaseAttachCommand(sys *System) *cli.Command {
	opts := &releaseAttachOptions{}
	return &cli.Command{
		Name:      "attach",
		Usage:     "add a signature made elsewhere (an offline ceremony, a signing service) to a manifest",
		UsageText: "otactl release attach MANIFEST --pubkey KEYREF --signature FILE [--signature-encoding binary|base64|hex] [--out FILE]",
		Description: `Checks that FILE holds the signature of the --pubkey key over the manifest's
release digest (what 'otactl release digest' prints) and adds it to the
manifest, replacing an earlier signature by the same key. The manifest is
rewritten atomically in place, or written to --out ("-" for standard
output). FILE ("-" for standard input) is the signature as openssl writes
it (ASN.1 DER for ECDSA P-256, 64 bytes for Ed25519; 64 bytes r||s are
taken for ECDSA too), or that in base64 or hex: each is tried, unless
--signature-encoding names one. A signature that does not verify, a
manifest whose stored hash is not its content's digest (changed after it
was sealed) and one that has expired are refused with exit code 3, and
nothing is written. The manifest is linted as by 'release sign'.

Example:
   $ otactl release digest release.json --raw > release.digest
   $ openssl pkeyutl -sign -inkey release-key.pem -rawin -digest sha256 \
       -in release.digest -out release.sig          # on the offline machine
   $ otactl release attach release.json --pubkey release.pub --signature release.sig`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "pubkey", Usage: "the signer's public key `KEYREF` (a file, file:PATH, env:VAR or a keyring NAME)", Destination: &opts.Pubkey, Required: true},
			&cli.StringFlag{Name: "signature", Usage: "the signature `FILE` (\"-\" for standard input)", Destination: &opts.Signature, Required: true},
			&cli.StringFlag{Name: "signature-encoding", Usage: "read the signature as binary, base64 or hex only (default: whichever verifies)", Destination: &opts.Encoding},
			&cli.StringFlag{Name: "out", Usage: "write to `FILE` instead of rewriting MANIFEST", Destination: &opts.Out},
			strictFlag(&opts.Strict),
		},
		Action: runWithArgs(1, "release attach", "expected one MANIFEST argument", "otactl release attach release.json --pubkey release.pub --signature release.sig", func(_ context.Context, args []string) error {
			if opts.Encoding != "" {
				if err := release.CheckSigEncoding(opts.Encoding); err != nil {
					return usageErrorf("release attach: --signature-encoding: %v", err)
				}
			}
			if args[0] == "-" && opts.Signature == "-" {
				return usageErrorf("release attach: MANIFEST and --signature cannot both be standard input")
			}
			opts.File = args[0]
			return releaseAttachRun(sys, opts)
		}),
	}
}

func releaseAttachRun(sys *System, opts *releaseAttachOptions) error {
	var (
		pub crypto.PublicKey
		sig []byte
	)
	a := amendment{Verb: "attach to", File: opts.File, Out: opts.Out, Strict: &opts.Strict}
	err := a.run(sys, func() (err error) {
		pub, sig, err = opts.inputs(sys)
		return err
	}, nil, func(m *release.Manifest) (string, error) {
		if err := m.Attach(pub, sig, opts.Encoding); err != nil {
			return "", err
		}
		id, err := release.KeyID(pub)
		return "attached the signature by key " + id + " to", err
	})
	if errors.Is(err, release.ErrVerification) {
		return withHint(err, digestHint(opts.File))
	}
	return err
}

// inputs are the --pubkey key and the content of the --signature file.
func (opts *releaseAttachOptions) inputs(sys *System) (crypto.PublicKey, []byte, error) {
	pubs, err := resolvePublicKeys(sys, []string{opts.Pubkey})
	if err != nil {
		return nil, nil, err
	}
	sig, err := readInput(sys, opts.Signature)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("--signature: no such file: %s", opts.Signature)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("--signature: %w", err)
	}
	return pubs[0], sig, nil
}
