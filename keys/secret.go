package keys

import (
	"os"
	"regexp"
	"strings"
)

// This file holds the one rule for showing user-supplied values in
// messages: a value that could be key material or a password is never
// shown, only described. Key references are shown only once they are
// well-formed (ShowRef); everything that reaches the terminal as an error
// also passes through Redact.

// minSecretRun is the shortest run of base64 characters taken for a secret:
// base64 of 18 bytes. Shorter strings are names and paths.
const minSecretRun = 24

// minHexSecret is the shortest run of hex digits taken for a secret: 20
// bytes. A SHA-256 digest is 64, so hex runs are secret only in names and
// references, never when Redact cleans a message that may hold digests.
const minHexSecret = 40

// maxShown is the longest value a message shows.
const maxShown = 1024

// LooksLikeKeyMaterial reports whether s looks like a secret pasted where a
// name, a path or a key reference belongs: PEM text, anything holding a
// line break or another control character, or a long random-looking string
// (base64 of 18 bytes or more, hex of 20 bytes or more). Messages never show
// such a value.
func LooksLikeKeyMaterial(s string) bool {
	if strings.Contains(s, "-----") || strings.Contains(s, "PRIVATE KEY") {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return looksSecret(s)
}

// looksSecret tells a random-looking string from one a person chose. It
// looks at each run of base64 characters ([A-Za-z0-9+/=_-]; anything else,
// such as '.', ':' or a space, ends a run). A run is random when it holds
// the fixed DER header of a private key; when it is 24 or more characters
// of standard base64 (a '+' or padding) mixing upper and lower case; or
// when it is 24 or more characters mixing upper and lower case with few
// "words" (runs of three or more letters of one case, or digits): under 65%
// of its length, 80% for a run of 40 or more without a '/' (or such a part
// of a path), 72% for a longer run with one. A run of 40 or more hex digits
// is random too. Names, paths and test folders are mostly words
// ("release-key-2024", "/tmp/TestVerify123/001/key"). Measured on 100,000
// random keys each: base64 of 32 bytes (an Ed25519 seed, a P-256 scalar)
// is missed about once in 20,000 (unpadded base64url) and never (standard
// base64); of 18 bytes, about 1.5% of the time.
func looksSecret(s string) bool {
	return randomRun(s, true) >= 0
}

// randomRun returns the start of the first random-looking run in s, or -1.
// withHex also counts long hex runs.
func randomRun(s string, withHex bool) int {
	for i := 0; i < len(s); {
		if !base64Byte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && base64Byte(s[j]) {
			j++
		}
		if randomLooking(s[i:j], withHex) {
			return i
		}
		i = j
	}
	return -1
}

// derKeyHeaders are the base64 of the fixed DER headers that begin private
// keys (PKCS #8 Ed25519 and P-256, SEC 1 P-256, PKCS #1 and #8 RSA): the
// first line of such a PEM body is mostly header, too regular to look
// random, so it is recognised by the header itself.
var derKeyHeaders = []string{
	"MC4CAQAwBQYDK2VwBCIEI",                            // PKCS #8 Ed25519
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg", // PKCS #8 P-256
	"MHcCAQEEI",                // SEC 1 P-256
	"AgEAAoIBAQ", "AgEAAoICAQ", // PKCS #1 RSA 2048, 4096
	"AgEAMA0GCSqGSIb3DQEBAQUABIIE", // PKCS #8 RSA
}

// HoldsKeyHeader says whether s holds the base64 of a private key's fixed
// DER header: a private key's PEM body, whatever else surrounds it.
func HoldsKeyHeader(s string) bool {
	for _, h := range derKeyHeaders {
		if strings.Contains(s, h) {
			return true
		}
	}
	return false
}

func randomLooking(run string, withHex bool) bool {
	if withHex && longestHex(run) >= minHexSecret {
		return true
	}
	if HoldsKeyHeader(run) {
		return true
	}
	if len(run) < minSecretRun {
		return false
	}
	var upper, lower bool
	for i := 0; i < len(run); i++ {
		switch c := run[i]; {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		}
	}
	if strings.Contains(run, "+") || strings.HasSuffix(run, "=") {
		// Standard base64 (a '+', or padding): names and paths hold
		// neither.
		return upper && lower
	}
	limit := 0.65
	switch {
	case len(run) >= 40 && !strings.Contains(run, "/"):
		// A long run that is no path (unpadded base64url, say): long
		// names are wordier still.
		limit = 0.80
	case len(run) >= 48:
		// Long random runs are closer to their mean; long paths are
		// wordier still.
		limit = 0.72
	}
	if upper && lower && wordShare(run) < limit {
		return true
	}
	// A reference that is a path may hold a random-looking component:
	// judge each long one as a run of its own ("./" and a base64url key,
	// say). Not in messages (withHex false), whose paths stay readable.
	if withHex && strings.Contains(run, "/") {
		for _, part := range strings.Split(run, "/") {
			if len(part) >= 40 && randomLooking(part, withHex) {
				return true
			}
		}
	}
	return false
}

// wordShare is the share of s in runs of three or more characters of one
// class (upper case, lower case, digits).
func wordShare(s string) float64 {
	inWords := 0
	for i := 0; i < len(s); {
		c := charClass(s[i])
		j := i + 1
		for j < len(s) && charClass(s[j]) == c {
			j++
		}
		if c != classOther && j-i >= 3 {
			inWords += j - i
		}
		i = j
	}
	return float64(inWords) / float64(len(s))
}

const (
	classUpper = iota
	classLower
	classDigit
	classOther
)

func charClass(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return classUpper
	case c >= 'a' && c <= 'z':
		return classLower
	case c >= '0' && c <= '9':
		return classDigit
	}
	return classOther
}

func base64Byte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '+' || c == '/' || c == '=' || c == '_' || c == '-'
}

func longestHex(s string) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// ShowValue is a value the user gave (a path, an argument) as a message
// shows it: as is, unless it looks like key material pasted in the wrong
// place. Key references go through ShowRef instead.
func ShowValue(s string) string {
	if LooksLikeKeyMaterial(s) {
		return "(a value that looks like key material, not shown)"
	}
	return s
}

// PastedForPath reports whether a value given where a path belongs is key
// material rather than a path: it looks like key material and names no
// existing file (a folder named by a hash is still a path).
func PastedForPath(path string) bool {
	if !LooksLikeKeyMaterial(path) {
		return false
	}
	if strings.Contains(path, "-----") || strings.ContainsAny(path, "\n\r\x00") {
		return true
	}
	_, err := os.Stat(path)
	return err != nil
}

// ShowRef returns a key reference as a message may show it. Only a
// well-formed reference is shown: a valid key NAME, file:PATH, env: or
// env:VAR with a valid variable name, or a path (holding '/' or '\', or
// ending in a key file extension), and none that looks like key material.
// For anything else ok is false: the caller names the flag, not the value.
func ShowRef(ref string) (shown string, ok bool) {
	if ref == "" || len(ref) > maxShown || LooksLikeKeyMaterial(ref) {
		return "", false
	}
	switch {
	case strings.HasPrefix(ref, refEnv):
		if name := ref[len(refEnv):]; name != "" && !EnvName(name) {
			return "", false
		}
	case strings.HasPrefix(ref, refFile):
	case ValidateKeyName(ref) == nil:
	case PathLike(ref):
	default:
		return "", false
	}
	return ref, true
}

// showPath is a file path as a message shows it: as is, unless it looks
// like key material.
func showPath(p string) string {
	if len(p) > maxShown || LooksLikeKeyMaterial(p) {
		return "(a path that looks like key material, not shown)"
	}
	return p
}

// keyFileExts are the file name endings that make a reference a path.
var keyFileExts = []string{".pem", ".pub", ".der", ".key"}

// PathLike says whether a reference is a file path rather than a key name:
// it holds '/' or '\', or ends in .pem, .pub, .der or .key.
func PathLike(ref string) bool {
	if strings.ContainsAny(ref, `/\`) {
		return true
	}
	lower := strings.ToLower(ref)
	for _, ext := range keyFileExts {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// pemBlock matches PEM text, complete or cut short.
var pemBlock = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*-----[\s\S]*?(-----END [A-Z0-9 ]*-----|$)`)

// Redacted is what Redact puts in place of a secret.
const Redacted = "(redacted)"

// Redact returns msg with PEM text and random-looking base64 runs (see
// looksSecret) replaced by "(redacted)". Hex runs are kept: messages name
// digests and hashes. It is the last guard before a message is printed;
// the messages themselves already never show a value that looks secret.
func Redact(msg string) string {
	if strings.Contains(msg, "-----BEGIN") {
		msg = pemBlock.ReplaceAllString(msg, Redacted)
	}
	var b strings.Builder
	for {
		i := randomRun(msg, false)
		if i < 0 {
			break
		}
		j := i
		for j < len(msg) && base64Byte(msg[j]) {
			j++
		}
		b.WriteString(msg[:i])
		b.WriteString(Redacted)
		msg = msg[j:]
	}
	b.WriteString(msg)
	return b.String()
}
