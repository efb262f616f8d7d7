package commands

import (
	"context"

	"github.com/urfave/cli/v2"
)

// newKeyCommand is 'otactl key': generate and export have a constructor
// in their files; the verbs that only take arguments and -o are declared
// here, their run functions in files of their own (key_list.go...).
func newKeyCommand(sys *System) *cli.Command {
	list := &keyListOptions{}
	return newGroup("key", "manage signing keys in the OS keyring", keyDescription,
		newKeyGenerateCommand(sys),
		&cli.Command{
			Name:      "list",
			Aliases:   []string{"ls"},
			Usage:     "list the signing keys in the OS keyring and on PKCS#11 tokens",
			UsageText: "otactl key list [--pkcs11-module LIB] [-o json]",
			Description: `With a PKCS#11 module (--pkcs11-module, else OTACTL_PKCS11_MODULE, else the
profile's pkcs11-module), the key pairs on its tokens are listed too, each
named by the pkcs11: URI that --sign takes. No PIN is needed unless the token
hides its public keys: then set OTACTL_PKCS11_PIN.

Example:
   $ otactl key list --pkcs11-module /usr/lib/softhsm/libsofthsm2.so
   NAME                                          ALGORITHM    KEY ID
   release-key                                   ed25519      3f1c0a9b27d4e815
   pkcs11:token=release-hsm;object=release;id=%01  ecdsa-p256   8d1e22c07f3a9b41`,
			Flags: []cli.Flag{outputFlag(&list.Output),
				&cli.StringFlag{Name: "pkcs11-module", Usage: "also list the keys on the tokens of PKCS#11 library `LIB`", Destination: &list.PKCS11Module}},
			Action: runWithoutArgs("key list", "", func(context.Context) error {
				return keyListRun(sys, list)
			}),
		},
		newKeyExportCommand(sys),
		newKeyRotateCommand(sys),
		&cli.Command{
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
				return keyImportRun(sys, args[0], args[1])
			}),
		},
		&cli.Command{
			Name:      "delete",
			Aliases:   []string{"rm"},
			Usage:     "remove a signing key from the OS keyring",
			UsageText: "otactl key delete NAME",
			Description: `The key is gone for good: export its public part first if devices trust it.

Example:
   $ otactl key delete old-release-key`,
			Action: runWithArgs(1, "key delete", "expected one NAME", "", func(_ context.Context, args []string) error {
				return keyDeleteRun(sys, args[0])
			}),
		},
	)
}

const keyDescription = `Signing keys live in the OS keyring (Secret Service on Linux, Keychain on
macOS, Credential Manager on Windows) under the service name "otactl".
For CI, use a key file (file:PATH) or an environment variable (env:VAR)
wherever a KEYREF is asked for. A key on a hardware token or HSM is named by
its PKCS#11 URI (pkcs11:token=T;object=K); 'key list --pkcs11-module LIB'
shows them, 'key export' exports their public keys.`
