package commands

import (
	"github.com/urfave/cli/v2"
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
