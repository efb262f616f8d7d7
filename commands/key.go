package commands

import (
	"github.com/urfave/cli/v2"
)

func newKeyCommand(sys *System) *cli.Command {
	return newGroup("key", "manage signing keys in the OS keyring", keyDescription,
		newKeyGenerateCommand(sys),
		newKeyListCommand(sys),
		newKeyExportCommand(sys),
		newKeyImportCommand(sys),
		newKeyDeleteCommand(sys),
	)
}

const keyDescription = `Signing keys live in the OS keyring (Secret Service on Linux, Keychain on
macOS, Credential Manager on Windows) under the service name "otactl".
For CI, use a key file (file:PATH) or an environment variable (env:VAR)
wherever a KEYREF is asked for.`
