package commands

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/keys"
)

type keyGenerateOptions struct {
	Name   string
	Alg    string
	Out    string
	Output string
}

func newKeyGenerateCommand(sys *System) *cli.Command {
	opts := &keyGenerateOptions{}
	return &cli.Command{
		Name:      "generate",
		Usage:     "make a new signing key",
		UsageText: "otactl key generate NAME [--alg ed25519|ecdsa-p256] | otactl key generate --out FILE [--alg ...]",
		Description: `Makes a key pair. The private key (PKCS#8 PEM) goes into the OS keyring
under NAME, or with --out into a new file readable only by you (0600), for CI.
Prints the key id: the first 16 hex characters of the SHA-256 of the public
key's DER SubjectPublicKeyInfo.

Example:
   $ otactl key generate release-key
   $ otactl key generate --alg ecdsa-p256 --out ci-signing-key.pem`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "alg", Usage: "ed25519 or ecdsa-p256", Value: "ed25519", Destination: &opts.Alg},
			&cli.StringFlag{Name: "out", Usage: "write the private key to `FILE` instead of the keyring", Destination: &opts.Out},
			outputFlag(&opts.Output),
		},
		Action: func(c *cli.Context) error {
			switch {
			case c.Args().Len() > 1:
				return usageErrorf("key generate: expected one NAME")
			case c.Args().Len() == 0 && opts.Out == "":
				return usageErrorf("key generate: expected a NAME, or --out FILE")
			}
			opts.Name = c.Args().First()
			return keyGenerateRun(sys, opts)
		},
	}
}

func keyGenerateRun(sys *System, opts *keyGenerateOptions) error {
	var info keys.Info
	if opts.Out != "" {
		out := outFile{Flag: "--out", Path: opts.Out, Options: regularfile.Options{Private: true, NoClobber: true}}
		if err := out.check(); err != nil {
			return keyFileError(err)
		}
		k, err := keys.GenerateKey(opts.Alg)
		if err != nil {
			return usageErrorf("key generate: %v", err)
		}
		pemBytes, err := keys.MarshalPrivatePEM(k)
		if err != nil {
			return err
		}
		if err := out.write(pemBytes); err != nil {
			return keyFileError(err)
		}
		info, err = keys.Describe(opts.Name, k.Public())
		if err != nil {
			return err
		}
		fmt.Fprintf(sys.Stderr, "wrote private key to %s (mode 0600); sign with --sign file:%s\n", keys.ShowValue(opts.Out), keys.ShowValue(opts.Out))
	} else {
		var err error
		if err = keys.ValidateKeyName(opts.Name); err != nil {
			return usageErrorf("key generate: %v", err)
		}
		info, err = sys.keyStore().Generate(opts.Name, opts.Alg)
		if err != nil {
			return fmt.Errorf("key generate: %w", err)
		}
		fmt.Fprintf(sys.Stderr, "stored private key %q in the OS keyring; sign with --sign %s\n", opts.Name, opts.Name)
	}
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, "key-generate", info)
	}
	name := info.Name
	if name == "" {
		name = "-" // a key written to a file has no name
	}
	_, err := fmt.Fprintf(sys.Stdout, "%s\t%s\t%s\n", name, info.Alg, info.KeyID)
	return err
}

// keyFileError says that an existing file is never replaced by a new key.
func keyFileError(err error) error {
	if errors.Is(err, fs.ErrExist) {
		return withHint(fmt.Errorf("key generate: %w; not overwriting a key", err), "choose another file, or delete the old key file first if it is no longer needed")
	}
	return err
}
