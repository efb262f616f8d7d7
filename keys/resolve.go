package keys

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/regularfile"
)

// maxKeyFile caps how much of a key file is read.
const maxKeyFile = 1 << 20

// Key reference schemes (KEYREF).
const (
	refFile = "file:"
	refEnv  = "env:"
)

// ResolveSigner finds the private key a key reference names:
//
//	NAME        a key in the keyring (s)
//	file:PATH   a PEM private key file
//	env:VAR     a PEM private key (or base64 of one) in environment variable VAR
//	env:        the same with VAR = OTACTL_SIGNING_KEY
//	pkcs11:...  a key on a PKCS#11 token (RFC 7512 URI; see PKCS11URI)
//	exec:CMD    an external signer program (ExecSigner)
//
// Errors never show key material: a reference is named only when it is
// well-formed (ShowRef), and a key file's or variable's content never.
func ResolveSigner(ref string, s *Store, getenv func(string) string) (crypto.Signer, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(ref, refFile):
		path := strings.TrimPrefix(ref, refFile)
		if path == "" {
			return nil, errNoPath
		}
		b, err := regularfile.ReadFile(path, maxKeyFile)
		if err != nil {
			return nil, fileError("signing key", path, err)
		}
		k, err := ParsePrivatePEM(b)
		if err != nil {
			return nil, fmt.Errorf("signing key file %s: %w", showPath(path), err)
		}
		return k, nil
	case strings.HasPrefix(ref, refEnv):
		return parseEnv(ref, getenv, "signing key", ParsePrivatePEM)
	case IsPKCS11(ref):
		return resolvePKCS11Signer(ref, getenv)
	case strings.HasPrefix(ref, refExec):
		return newExecSigner(ref, s, getenv)
	}
	if err := checkName(ref); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("signing key %s: no keyring", quoteName(ref))
	}
	k, err := s.Signer(ref)
	if err != nil && PathLike(ref) {
		// "ci.pem" is a valid key name, but more likely a file.
		return nil, hint.Add(err, fmt.Sprintf("a bare NAME is a keyring key; for the key file write file:%s", ref))
	}
	return k, err
}

// ResolvePublic finds the public key a reference names: an existing file
// (PEM or DER public key, or a PEM private key whose public part is taken),
// also written file:PATH; env:VAR as for ResolveSigner, read from the
// process environment; a pkcs11: URI's token key; otherwise the key NAME
// in the keyring.
func ResolvePublic(ref string, s *Store) (crypto.PublicKey, error) {
	return ResolvePublicEnv(ref, s, os.Getenv)
}

// ResolvePublicEnv is ResolvePublic reading env:VAR through getenv. A
// reference that holds '/' or '\' or ends in .pem, .pub, .der or .key is
// always a file, never a keyring name.
func ResolvePublicEnv(ref string, s *Store, getenv func(string) string) (crypto.PublicKey, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	if strings.HasPrefix(ref, refEnv) {
		return parseEnv(ref, getenv, "key", ParsePublicPEM)
	}
	if IsPKCS11(ref) {
		return resolvePKCS11Public(ref, getenv)
	}
	path, explicit := strings.CutPrefix(ref, refFile)
	if explicit && path == "" {
		return nil, errNoPath
	}
	fi, statErr := os.Stat(path)
	if explicit || statErr == nil && !fi.IsDir() {
		return readPublicFile(path)
	}
	if scheme, ok := unknownScheme(ref); ok && statErr != nil {
		return nil, schemeError(scheme)
	}
	if PathLike(ref) {
		return readPublicFile(path)
	}
	if err := ValidateKeyName(ref); err != nil {
		return nil, fmt.Errorf("no such file, and not a key name: %w", err)
	}
	if s == nil {
		return nil, fmt.Errorf("no file or key named %s", quoteName(ref))
	}
	pub, err := s.Public(ref)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("no file named %s, and key %s %w", quoteName(ref), quoteName(ref), ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("no file named %s, and %w", quoteName(ref), err)
	}
	return pub, nil
}

// readPublicFile reads a PEM public or private key, or a DER public key.
func readPublicFile(path string) (crypto.PublicKey, error) {
	b, err := regularfile.ReadFile(path, maxKeyFile)
	if err != nil {
		return nil, fileError("public key", path, err)
	}
	if blk, _ := pem.Decode(b); blk == nil && len(b) > 0 && b[0] == 0x30 {
		pub, err := parsePublicDER(b)
		if err != nil {
			return nil, fmt.Errorf("public key file %s: %w", showPath(path), err)
		}
		return pub, nil
	}
	pub, err := ParsePublicPEM(b)
	if err != nil {
		return nil, fmt.Errorf("public key file %s: %w", showPath(path), err)
	}
	return pub, nil
}

// fileError describes a failure to read the key file path: "no such file:
// PATH", or the system's reason without the path it may repeat. It wraps
// err, so errors.Is(err, fs.ErrNotExist) holds.
func fileError(what, path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &noFileError{path: path, err: err}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("read %s file %s: %w", what, showPath(path), pe.Err)
	}
	return fmt.Errorf("read %s file %s: %w", what, showPath(path), err)
}

// noFileError is a key file that does not exist.
type noFileError struct {
	path string
	err  error
}

func (e *noFileError) Error() string { return "no such file: " + showPath(e.path) }
func (e *noFileError) Unwrap() error { return e.err }

// readEnv reads the variable an env: reference names. CI systems that mask
// secrets often want them on one line, so a PEM whose newlines are written
// as the two characters \n is taken, and so is base64 of a PEM.
func readEnv(ref string, getenv func(string) string) (string, []byte, error) {
	name := strings.TrimPrefix(ref, refEnv)
	if name == "" {
		name = DefaultKeyEnv
	}
	if !EnvName(name) {
		return "", nil, &RefError{Err: fmt.Errorf("key reference env:%s: %s is not an environment variable name", showName(name), quoteName(name))}
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	v := getenv(name)
	if strings.TrimSpace(v) == "" {
		return name, nil, fmt.Errorf("environment variable %s is not set or empty", showName(name))
	}
	b := []byte(v)
	if bytes.Contains(b, []byte("-----BEGIN")) && !bytes.Contains(b, []byte("\n")) {
		// PEM pasted into a one-line field, with its newlines written \n.
		b = bytes.ReplaceAll(b, []byte(`\n`), []byte("\n"))
	}
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		compact := strings.Join(strings.Fields(v), "")
		if d, err := base64.StdEncoding.DecodeString(compact); err == nil && bytes.Contains(d, []byte("-----BEGIN")) {
			b = d
		}
	}
	return name, b, nil
}

// parseEnv reads the key an env: reference names with parse; what names
// the key in an error.
func parseEnv[K any](ref string, getenv func(string) string, what string, parse func([]byte) (K, error)) (K, error) {
	var zero K
	name, b, err := readEnv(ref, getenv)
	if err != nil {
		return zero, err
	}
	k, err := parse(b)
	if err != nil {
		return zero, fmt.Errorf("%s in environment variable %s: %w", what, name, err)
	}
	return k, nil
}

// EnvName says whether s can name an environment variable, as in env:VAR.
func EnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// checkRef refuses a reference that is key material rather than a name
// for it, without echoing it. The path of an existing file is a reference
// however random its name (a folder named by a hash), and so is a pkcs11:
// URI, whose parser repeats none of its values. An exec: command is
// checked word by word, so that its program may be such a path.
func checkRef(ref string) error {
	switch {
	case ref == "":
		return &RefError{Err: errors.New("no key reference given: use NAME, file:PATH or env:VAR")}
	case IsExecRef(ref):
		for _, w := range strings.Fields(strings.TrimPrefix(ref, refExec)) {
			if LooksLikeKeyMaterial(w) && !existingFile(w) {
				return &RefError{Err: errors.New("the exec: command looks like it holds key material: keep the key itself in a file, an environment variable or the signer's own store")}
			}
		}
	case LooksLikeKeyMaterial(ref) && !existingFile(strings.TrimPrefix(ref, refFile)) && !IsPKCS11(ref):
		return &RefError{Err: errors.New("the value looks like key material: pass a key name, file:PATH or env:VAR, and keep the key itself in a file or an environment variable")}
	}
	return nil
}

// existingFile says whether path names an existing file, for a path whose
// text looks like key material. PEM text and control characters are never
// a path here.
func existingFile(path string) bool {
	if strings.Contains(path, "-----") || strings.ContainsFunc(path, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// checkName validates a keyring key name, telling a mistyped scheme or a
// path apart from a bad name.
func checkName(ref string) error {
	err := ValidateKeyName(ref)
	if err == nil {
		return nil
	}
	if scheme, ok := unknownScheme(ref); ok {
		return schemeError(scheme)
	}
	if shown, ok := ShowRef(ref); ok && strings.ContainsAny(ref, `/\`) {
		return &RefError{Err: fmt.Errorf("%q is not a key name: for a key file write file:%s", shown, shown)}
	}
	return &RefError{Err: err}
}

// unknownScheme returns the "xxx:" a reference starts with, if it looks like
// a scheme (two to 16 characters, not a Windows drive letter or a path).
func unknownScheme(ref string) (string, bool) {
	i := strings.IndexByte(ref, ':')
	if i < 2 || i > 16 || strings.ContainsAny(ref[:i], `/\ .`) {
		return "", false
	}
	return ref[:i+1], true
}

func schemeError(scheme string) error {
	return &RefError{Err: fmt.Errorf("unsupported key reference scheme %q: use NAME, file:PATH or env:VAR", scheme)}
}

// errNoPath is a file: reference without its path.
var errNoPath = &RefError{Err: errors.New("key reference file: needs a path (file:PATH)")}

// RefError is a key reference of the wrong form: an unknown scheme, a bad
// key or variable name, a file: without a path, a malformed pkcs11: URI,
// or key material where a reference belongs. Given on the command line it
// is a usage error; a file, variable or key that is not there is not one.
type RefError struct{ Err error }

func (e *RefError) Error() string { return e.Err.Error() }
func (e *RefError) Unwrap() error { return e.Err }
