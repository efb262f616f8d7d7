package keys

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/release"
)

// refExec is the key reference scheme of an external signer program.
const refExec = "exec:"

// The external signer protocol (docs/keys.md#external-signers-exec).
// SignerProtocol is its version; the variables below configure otactl
// (read from its environment) and are all set, resolved, in the signer
// program's environment.
const (
	SignerProtocol = "1"

	EnvSignerProtocol = "OTACTL_SIGNER_PROTOCOL" // the version: otactl refuses any other than SignerProtocol
	EnvSignerPubkey   = "OTACTL_SIGNER_PUBKEY"   // the signer's public key reference (--signer-pubkey)
	EnvSignerInput    = "OTACTL_SIGNER_INPUT"    // the digest on stdin: raw (default), hex or base64
	EnvSignerOutput   = "OTACTL_SIGNER_OUTPUT"   // the signature on stdout: binary (default), base64 or hex
	EnvSignerTimeout  = "OTACTL_SIGNER_TIMEOUT"  // how long the program may take, a Go duration (default 2m)

	// Set for the program only: the key's algorithm and id, and the
	// release digest in hex (for programs that take it as an argument).
	EnvSignerAlg    = "OTACTL_SIGNER_ALG"
	EnvSignerKeyID  = "OTACTL_SIGNER_KEYID"
	EnvSignerDigest = "OTACTL_SIGNER_DIGEST"
)

// Digest encodings on the signer's standard input.
const (
	InputRaw    = "raw"
	InputHex    = "hex"
	InputBase64 = "base64"
)

// DefaultSignerTimeout is how long a signer program may run by default.
const DefaultSignerTimeout = 2 * time.Minute

// maxSignerOutput caps what is read of a signer's standard output.
const maxSignerOutput = 64 << 10

// newExecSigner sets up the signer an exec: reference names. Its
// configuration comes through getenv (the EnvSigner* variables): the
// commands put --signer-pubkey and the profile's signer-pubkey there.
func newExecSigner(ref string, s *Store, getenv func(string) string) (crypto.Signer, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	argv, err := SplitCommand(strings.TrimPrefix(ref, refExec))
	if err != nil {
		return nil, fmt.Errorf("key reference exec: %w", err)
	}
	name := text.Printable(filepath.Base(argv[0]))
	if v := getenv(EnvSignerProtocol); v != "" && v != SignerProtocol {
		return nil, fmt.Errorf("%s %q: this otactl speaks external signer protocol %s", EnvSignerProtocol, text.Printable(v), SignerProtocol)
	}
	e := &ExecSigner{argv: argv, name: name, input: InputRaw, output: release.SigBinary, timeout: DefaultSignerTimeout}
	if v := getenv(EnvSignerInput); v != "" {
		if v != InputRaw && v != InputHex && v != InputBase64 {
			return nil, fmt.Errorf("%s %q: use raw, hex or base64", EnvSignerInput, text.Printable(v))
		}
		e.input = v
	}
	if v := getenv(EnvSignerOutput); v != "" {
		if err := release.CheckSigEncoding(v); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvSignerOutput, err)
		}
		e.output = v
	}
	if v := getenv(EnvSignerTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s %q: want a positive duration such as 30s or 5m", EnvSignerTimeout, text.Printable(v))
		}
		e.timeout = d
	}
	pubRef := getenv(EnvSignerPubkey)
	if pubRef == "" {
		return nil, hint.Wrap(fmt.Errorf("signer %s: no public key given for the exec: signer", name),
			"give the signer's public key once with --signer-pubkey FILE (or "+EnvSignerPubkey+", or 'otactl config set signer-pubkey FILE'): its key id goes in the manifest and every signature is checked against it")
	}
	if e.pub, err = ResolvePublicEnv(pubRef, s, getenv); err != nil {
		return nil, fmt.Errorf("signer %s: public key: %w", name, err)
	}
	if e.alg, e.id, err = release.Identify(e.pub); err != nil {
		return nil, fmt.Errorf("signer %s: public key: %w", name, err)
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("signer %s: %w", name, lookPathError(err))
	}
	return e, nil
}

func lookPathError(err error) error {
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return errors.New("program not found in PATH")
	case errors.Is(err, os.ErrNotExist):
		return errors.New("no such program")
	case errors.Is(err, os.ErrPermission):
		return errors.New("program is not executable")
	}
	var e *exec.Error
	if errors.As(err, &e) {
		return e.Err
	}
	return err
}

// SplitCommand splits the COMMAND of exec:COMMAND into a program and its
// arguments, without a shell: words are separated by spaces or tabs;
// 'single quotes' keep everything up to the next single quote as it is;
// "double quotes" do too, except that \" and \\ stand for " and \; outside
// quotes a backslash keeps the next character as it is. Nothing else is
// special: no variables, globs, pipes or redirections.
func SplitCommand(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   byte
		escaped bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			cur.WriteByte(c)
			escaped = false
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\':
			escaped, inWord = true, true
		case c == '\'' || c == '"':
			quote, inWord = c, true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	switch {
	case quote != 0:
		return nil, fmt.Errorf("unterminated %c quote in the command", quote)
	case escaped:
		return nil, errors.New("the command ends with a lone backslash")
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 || words[0] == "" {
		return nil, errors.New("needs a command: exec:PROGRAM [ARG]")
	}
	return words, nil
}

// IsExecRef says whether a key reference names an external signer.
func IsExecRef(ref string) bool { return strings.HasPrefix(ref, refExec) }
