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
// with '.'. Its errors do not quote a name that looks like key material.
func ValidateKeyName(name string) error {
	switch {
	case name == "":
		return errors.New("key name is empty")
	case len(name) > maxKeyName:
		return fmt.Errorf("key name is longer than %d characters", maxKeyName)
	case name[0] == '.':
		return fmt.Errorf("key name %s starts with '.'", quoteName(name))
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			if name[i] < 0x20 || name[i] >= 0x7f || looksSecret(name) {
				return fmt.Errorf("key name has a character outside [A-Za-z0-9._-] at byte %d", i)
			}
			return fmt.Errorf("key name %q has %q: only letters, digits, '.', '_' and '-' are allowed", name, name[i])
		}
	}
	return nil
}

// quoteName quotes a name for an error message, unless it looks like key
// material pasted in the wrong place: then it is described, not shown.
func quoteName(name string) string {
	if looksSecret(name) || len(name) > 256 {
		return fmt.Sprintf("(a %d-character name that looks like key material, not shown)", len(name))
	}
	return fmt.Sprintf("%q", name)
}

// showName is quoteName without the quotes, for names known to be plain
// identifiers.
func showName(name string) string {
	if looksSecret(name) || len(name) > 256 {
		return quoteName(name)
	}
	return name
}

// looksSecret tells a random-looking string (base64 or hex of 16 bytes or
// more) from a name someone chose: names are short or have words.
func looksSecret(s string) bool {
	if len(s) < 32 || strings.ContainsAny(s, ". ") {
		return false
	}
	var upper, lower, digit bool
	allHex := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= '0' && c <= '9':
			digit = true
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			allHex = false
		}
	}
	return upper && lower && digit || allHex && len(s) >= 40
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}
