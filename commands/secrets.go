package commands

import (
	"fmt"
	"os"
	"strings"

	"github.com/otactl/otactl/keys"
)

// shownValue is a user-supplied value (a path, an argument) as a message
// shows it: as is, unless it looks like key material pasted in the wrong
// place. Key references go through keys.ShowRef instead, and every error
// Main prints through keys.Redact as a last guard.
func shownValue(s string) string {
	if keys.LooksLikeKeyMaterial(s) {
		return "(a value that looks like key material, not shown)"
	}
	return s
}

// secretSettings are setting names someone might try to keep a secret
// under; the config file holds none.
var secretSettings = map[string]bool{
	"password": true, "passwd": true, "secret": true, "token": true,
	"private-key": true, "signing-key": true, "sign": true,
}

// refuseSecretSetting refuses to put a secret into the config file: a
// password-like setting name, or a value that looks like key material. The
// value is never shown.
func refuseSecretSetting(key, value string) error {
	if secretSettings[key] {
		return withHint(fmt.Errorf("config set %s: the config file holds no secrets", key),
			"store a broker password with 'otactl login' (or give OTACTL_PASSWORD or --password-stdin); keep signing keys in the OS keyring, a file (file:PATH) or an environment variable (env:VAR)")
	}
	if pastedSecret(value) {
		return withHint(fmt.Errorf("config set %s: the value looks like key material; the config file holds no secrets", shownValue(key)),
			"for a trusted key give its public key file (config set pubkey FILE) or keyring NAME")
	}
	return nil
}

// pastedSecret says whether a value given where a path belongs is key
// material rather than a path: it looks like key material and names no
// existing file (a folder named by a hash is still a path).
func pastedSecret(path string) bool {
	if !keys.LooksLikeKeyMaterial(path) {
		return false
	}
	if strings.Contains(path, "-----") || strings.ContainsAny(path, "\n\r\x00") {
		return true
	}
	_, err := os.Stat(path)
	return err != nil
}
