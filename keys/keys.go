// Package keys stores otactl's signing keys and broker passwords in the OS
// keyring, and reads signing keys from files and environment variables for CI.
package keys

import (
	"errors"
	"fmt"
	"strings"

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
}

// Algorithms otactl signs with (CONTRACT.md section 3), as release names them.
const (
	AlgEd25519   = release.AlgEd25519
	AlgECDSAP256 = release.AlgECDSAP256
)

// maxKeyName is the longest key name ValidateKeyName accepts.
const maxKeyName = 64

// ValidateKeyName accepts 1 to 64 characters of [A-Za-z0-9._-] not starting
// with '.'. Its errors quote the name only when it is short and printable, so
// a secret pasted in place of a name is not echoed.
func ValidateKeyName(name string) error {
	switch {
	case name == "":
		return errors.New("key name is empty")
	case len(name) > maxKeyName:
		return fmt.Errorf("key name is longer than %d characters", maxKeyName)
	case name[0] == '.':
		return fmt.Errorf("key name %q starts with '.'", name)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			if name[i] < 0x20 || name[i] >= 0x7f || strings.Contains(name, "-----") {
				return fmt.Errorf("key name has a character outside [A-Za-z0-9._-] at byte %d", i)
			}
			return fmt.Errorf("key name %q has %q: only letters, digits, '.', '_' and '-' are allowed", name, name[i])
		}
	}
	return nil
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}
