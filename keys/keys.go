// Package keys stores otactl's signing keys and broker passwords in the OS
// keyring, and reads signing keys from files and environment variables for CI.
package keys

import (
	"errors"
	"fmt"

	"github.com/otactl/otactl/release"
)

// Service is the keyring service name every otactl secret is stored under.
const Service = "otactl"

// DefaultKeyEnv is the environment variable read by the key reference "env:".
const DefaultKeyEnv = "OTACTL_SIGNING_KEY"

// ErrNotFound is wrapped by every error that means a key or password is not
// in the keyring.
var ErrNotFound = errors.New("not found in the keyring")

// ErrExists is wrapped when a key name is already taken.
var ErrExists = errors.New("already exists in the keyring")

// Info describes a stored key without its secret.
type Info struct {
	Name  string `json:"name"`
	Alg   string `json:"alg"`
	KeyID string `json:"keyid"`
	// Token is the PKCS#11 token of a token key (Name is then its
	// pkcs11: URI); empty for a keyring key.
	Token string `json:"token,omitempty"`
}

// Algorithms otactl signs with (docs/protocol.md#signatures), as release
// names them.
const (
	AlgEd25519   = release.AlgEd25519
	AlgECDSAP256 = release.AlgECDSAP256
)

// maxKeyName is the longest key name ValidateKeyName accepts.
const maxKeyName = 64

// ValidateKeyName accepts 1 to 64 characters of [A-Za-z0-9._-] not starting
// with '.', that do not look like key material (a random-looking string:
// see LooksLikeKeyMaterial). Its errors never quote the name: callers show
// a name only once it is valid.
func ValidateKeyName(name string) error {
	switch {
	case name == "":
		return errors.New("key name is empty")
	case LooksLikeKeyMaterial(name):
		return errors.New("the value looks like key material, not a key name: pass a key name, file:PATH or env:VAR")
	case len(name) > maxKeyName:
		return fmt.Errorf("key name is longer than %d characters", maxKeyName)
	case name[0] == '.':
		return errors.New("key name starts with '.'")
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			if name[i] < ' ' || name[i] >= 0x7f {
				return fmt.Errorf("key name has a character outside [A-Za-z0-9._-] at byte %d", i+1)
			}
			return fmt.Errorf("key name has %q at byte %d: only letters, digits, '.', '_' and '-' are allowed", name[i], i+1)
		}
	}
	return nil
}

// quoteName quotes a name for an error message, unless it looks like key
// material pasted in the wrong place: then it is described, not shown.
func quoteName(name string) string {
	if LooksLikeKeyMaterial(name) || len(name) > 256 {
		return fmt.Sprintf("(a %d-character value that looks like key material, not shown)", len(name))
	}
	return fmt.Sprintf("%q", name)
}

// showName is quoteName without the quotes, for names known to be plain
// identifiers.
func showName(name string) string {
	if LooksLikeKeyMaterial(name) || len(name) > 256 {
		return quoteName(name)
	}
	return name
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}
