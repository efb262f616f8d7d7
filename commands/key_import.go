package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/keys"
)

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
		Action: runWithArgs(2, "key import", "expected NAME and FILE", "", func(_ context.Context, args []string) error {
			name, file := args[0], args[1]
			if err := keys.ValidateKeyName(name); err != nil {
				return usageErrorf("key import: %v", err)
			}
			if file != "-" && keys.PastedForPath(file) {
				return withHint(usageErrorf("key import: FILE looks like key material, not a path"), fmt.Sprintf("give the key file, or - to read the key from standard input: otactl key import %s - < key.pem", name))
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
		}),
	}
}
