// Package release builds, encodes, hashes, signs and verifies OTA release
// manifests: the components a device fleet should run, bound together by the
// release digest of docs/protocol.md#release-digest.
package release

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of the naming rules (docs/protocol.md#names).
const (
	MaxNameLen     = 64  // package, version and type names
	MaxDeviceIDLen = 128 // device ids and cohort names
	// SDKNameLen is the Golioth device SDK's default buffer size for package
	// and version names; longer names get a warning.
	SDKNameLen = 16
)

// ValidatePackage accepts a package name: 1 to 64 characters of
// [A-Za-z0-9._-], not starting with '.'.
func ValidatePackage(s string) error {
	return validateName("package", s, MaxNameLen, "._-")
}

// ValidateVersion accepts a version: the package rule. A version never
// holds '+' (semver build metadata): it is part of an MQTT topic, where
// '+' is a wildcard.
func ValidateVersion(s string) error {
	if err := validateName("version", s, MaxNameLen, "._-+"); err != nil {
		return err
	}
	i := strings.IndexByte(s, '+')
	if i < 0 {
		return nil
	}
	msg := fmt.Sprintf("invalid version %q: '+' is not allowed: the version is part of an MQTT topic, where '+' is a wildcard", s)
	if i > 0 && i < len(s)-1 {
		msg += fmt.Sprintf("; leave the build metadata out (%s) or join it with '.' (%s)", s[:i], s[:i]+"."+strings.ReplaceAll(s[i+1:], "+", "."))
	}
	return errors.New(msg)
}

// ValidateType accepts a component type ("mcuboot", "modem"...): the package
// rule, and not "-", which stands for "no type" in the digest text.
func ValidateType(s string) error {
	if s == "-" {
		return errors.New(`invalid type "-": "-" stands for "no type" in the release digest`)
	}
	return validateName("type", s, MaxNameLen, "._-")
}

// ValidateDeviceID accepts a device id: 1 to 128 characters of
// [A-Za-z0-9._:-], not starting with '.' or '$'.
func ValidateDeviceID(s string) error {
	return validateName("device id", s, MaxDeviceIDLen, "._:-")
}

// ValidateCohort accepts a cohort name: the same rule as device ids.
func ValidateCohort(s string) error {
	return validateName("cohort", s, MaxDeviceIDLen, "._:-")
}

// ParseArtifact reads PACKAGE@VERSION, the name of an artifact, and
// checks both names by the rules of ValidatePackage and ValidateVersion.
func ParseArtifact(s string) (pkg, version string, err error) {
	pkg, version, ok := strings.Cut(s, "@")
	if !ok {
		return "", "", fmt.Errorf("%q: expected PACKAGE@VERSION, e.g. main@1.2.3", truncate(s))
	}
	if err := ValidatePackage(pkg); err != nil {
		return "", "", fmt.Errorf("%q: %w", truncate(s), err)
	}
	if err := ValidateVersion(version); err != nil {
		return "", "", fmt.Errorf("%q: %w", truncate(s), err)
	}
	return pkg, version, nil
}

// ComponentURI is the uri of a component in a manifest: the component
// topic relative to the topic prefix, with a leading '/'.
func ComponentURI(pkg, version string) string {
	return "/.u/c/" + pkg + "@" + version
}

func validateName(what, s string, max int, extra string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s name is empty", what)
	case len(s) > max:
		return fmt.Errorf("%s %q is %d characters long: at most %d are allowed", what, truncate(s), len(s), max)
	case s[0] == '.':
		return fmt.Errorf("invalid %s %q: must not start with '.'", what, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || containsByte(extra, c) {
			continue
		}
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Errorf("invalid %s %q: character %q at position %d is not allowed (use %s)", what, truncate(s), r, i+1, allowedText(extra))
	}
	return nil
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

func allowedText(extra string) string {
	t := "letters, digits"
	for i := 0; i < len(extra); i++ {
		t += fmt.Sprintf(", '%c'", extra[i])
	}
	return t
}

// truncate shortens a long name for an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
