package commands

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/output"
)

func newKeyCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "manage signing keys in the OS keyring",
		Description: `Signing keys live in the OS keyring (Secret Service on Linux, Keychain on
macOS, Credential Manager on Windows) under the service name "otactl".
For CI, use a key file (file:PATH) or an environment variable (env:VAR)
wherever a KEYREF is asked for.`,
		Subcommands: []*cli.Command{
			newKeyGenerateCommand(sys),
			newKeyListCommand(sys),
			newKeyExportCommand(sys),
			newKeyImportCommand(sys),
			newKeyDeleteCommand(sys),
		},
	}
}

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
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
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
		fmt.Fprintf(sys.Stderr, "wrote private key to %s (mode 0600); sign with --sign file:%s\n", shownValue(opts.Out), shownValue(opts.Out))
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
		return writeJSON(sys.Stdout, info)
	}
	name := info.Name
	if name == "" {
		name = "-" // a key written to a file has no name
	}
	_, err := fmt.Fprintf(sys.Stdout, "%s\t%s\t%s\n", name, info.Alg, info.KeyID)
	return err
}

type keyListOptions struct {
	Output string
}

func newKeyListCommand(sys *System) *cli.Command {
	opts := &keyListOptions{}
	return &cli.Command{
		Name:      "list",
		Aliases:   []string{"ls"},
		Usage:     "list the signing keys in the OS keyring",
		UsageText: "otactl key list [-o json]",
		Description: `Example:
   $ otactl key list
   NAME          ALGORITHM   KEY ID
   release-key   ed25519     3f1c0a9b27d4e815`,
		Flags: []cli.Flag{outputFlag(&opts.Output)},
		Action: func(c *cli.Context) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			if c.Args().Present() {
				return usageErrorf("key list: unexpected argument %q", c.Args().First())
			}
			return keyListRun(sys, opts)
		},
	}
}

func keyListRun(sys *System, opts *keyListOptions) error {
	infos, err := sys.keyStore().List()
	if err != nil {
		return fmt.Errorf("key list: %w", err)
	}
	if opts.Output == "json" {
		if infos == nil {
			infos = []keys.Info{}
		}
		return writeJSON(sys.Stdout, infos)
	}
	if len(infos) == 0 {
		fmt.Fprintln(sys.Stderr, "no keys in the OS keyring\nhint: otactl key generate NAME")
		return nil
	}
	t := output.Table{Header: []string{"NAME", "ALGORITHM", "KEY ID"}}
	for _, in := range infos {
		t.Rows = append(t.Rows, []string{in.Name, in.Alg, in.KeyID})
	}
	return t.Write(sys.Stdout, sys.StdoutTTY)
}

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
KEYREF is a keyring NAME, file:PATH or env:VAR; a public key file works too. --format c writes a C header
with the raw public key bytes, for firmware that verifies manifests.

Example:
   $ otactl key export release-key > release-key.pub.pem
   $ otactl key export release-key --format c --out include/release_key.h`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "pem, der or c", Value: "pem", Destination: &opts.Format},
			&cli.StringFlag{Name: "out", Usage: "write to `FILE` instead of standard output", Destination: &opts.Out},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErrorf("key export: expected one KEYREF")
			}
			switch opts.Format {
			case "pem", "der", "c":
			default:
				return usageErrorf("key export: unknown format %q: use pem, der or c", opts.Format)
			}
			opts.Ref = c.Args().First()
			return keyExportRun(sys, opts)
		},
	}
}

func keyExportRun(sys *System, opts *keyExportOptions) error {
	pub, err := keys.ResolvePublicEnv(opts.Ref, sys.keyStore(), sys.Getenv)
	if err != nil {
		return fmt.Errorf("key export: %w", err)
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

// keyFileError says that an existing file is never replaced by a new key.
func keyFileError(err error) error {
	if errors.Is(err, fs.ErrExist) {
		return withHint(fmt.Errorf("key generate: %w; not overwriting a key", err), "choose another file, or delete the old key file first if it is no longer needed")
	}
	return err
}

// exportName is the name a C header gives the key: the keyring name, or
// "signing_key" for file: and env: references.
func exportName(ref string) string {
	if err := keys.ValidateKeyName(ref); err == nil {
		return ref
	}
	return "signing_key"
}

func newKeyImportCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "store an existing private key in the OS keyring",
		UsageText: "otactl key import NAME FILE",
		Description: `Accepts a PKCS#8 PEM private key (openssl genpkey, or otactl key generate
--out) or a SEC1 "EC PRIVATE KEY"; Ed25519 and ECDSA P-256. FILE "-" reads
standard input.

Example:
   $ openssl genpkey -algorithm ed25519 -out release.pem
   $ otactl key import release-key release.pem && shred -u release.pem`,
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 2 {
				return usageErrorf("key import: expected NAME and FILE")
			}
			name, file := c.Args().Get(0), c.Args().Get(1)
			if err := keys.ValidateKeyName(name); err != nil {
				return usageErrorf("key import: %v", err)
			}
			if file != "-" && pastedSecret(file) {
				return usageErrorf("key import: FILE looks like key material, not a path\nhint: give the key file, or - to read the key from standard input: otactl key import %s - < key.pem", name)
			}
			data, err := readInput(sys, file)
			if err != nil {
				return fmt.Errorf("key import: %w", err)
			}
			info, err := sys.keyStore().Import(name, data)
			if err != nil {
				return fmt.Errorf("key import: %w", err)
			}
			_, err = fmt.Fprintf(sys.Stdout, "%s\t%s\t%s\n", info.Name, info.Alg, info.KeyID)
			return err
		},
	}
}

func newKeyDeleteCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Aliases:   []string{"rm"},
		Usage:     "remove a signing key from the OS keyring",
		UsageText: "otactl key delete NAME",
		Description: `The key is gone for good: export its public part first if devices trust it.

Example:
   $ otactl key delete old-release-key`,
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErrorf("key delete: expected one NAME")
			}
			name := c.Args().First()
			if err := sys.keyStore().Delete(name); err != nil {
				return fmt.Errorf("key delete: %w", err)
			}
			fmt.Fprintf(sys.Stderr, "deleted key %q\n", name)
			return nil
		},
	}
}
