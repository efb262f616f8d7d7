package profile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otactl/otactl/keys"
)

// Check finds the first setting of p, as read from a config file, that
// Set would have refused: a hand-edited file gets the same checks as
// 'otactl config set'. (Files are not required to exist here: using the
// profile reports a missing one.)
func (p *Profile) Check() error {
	bad := func(key, value, format string, args ...any) error {
		return &SettingError{Key: key, Value: value, Reason: fmt.Sprintf(format, args...), hide: pasted(value)}
	}
	for _, kv := range [][2]string{{"broker", p.Broker}, {"username", p.Username}, {"client-id", p.ClientID},
		{"ca-file", p.CAFile}, {"cert-file", p.CertFile}, {"key-file", p.KeyFile}, {"timeout", p.Timeout},
		{"pkcs11-module", p.PKCS11Module}} {
		if kv[1] != "" && pasted(kv[1]) {
			return bad(kv[0], kv[1], "this looks like key material or text pasted in the wrong place")
		}
	}
	if p.TopicPrefix != nil && pasted(*p.TopicPrefix) {
		return bad("topic-prefix", *p.TopicPrefix, "this looks like key material or text pasted in the wrong place")
	}
	if strings.Contains(p.Broker, "@") {
		return &SettingError{Key: "broker", Value: p.Broker, Reason: "credentials in the URL are not kept: use 'otactl config set username' and 'otactl login'", hide: true}
	}
	if p.Username != "" {
		if err := checkUsername(p.Username); err != nil {
			return bad("username", p.Username, "%v", err)
		}
	}
	if p.Timeout != "" {
		if err := checkTimeout(p.Timeout); err != nil {
			return bad("timeout", p.Timeout, "%v", err)
		}
	}
	if p.ReadBackWait != "" {
		if err := checkReadBackWait(p.ReadBackWait); err != nil {
			return bad("read-back-wait", p.ReadBackWait, "%v", err)
		}
	}
	for _, key := range []string{"max-payload", "block-size"} {
		if n := *p.size(key); n < 0 {
			return bad(key, strconv.FormatInt(n, 10), "want a positive size like 131072, 128k or 16M")
		}
	}
	if p.Threshold < 0 {
		return bad("threshold", strconv.Itoa(p.Threshold), "want a number of signatures, 0 or more")
	}
	for key, list := range map[string][]string{"pubkey": p.Pubkeys, "root-pubkey": p.RootPubkeys} {
		for _, k := range list {
			if err := checkPubkeyRef(k); err != nil {
				return &SettingError{Key: key, Value: k, Reason: err.Error(), hide: pasted(k)}
			}
		}
	}
	for _, u := range p.VerifyBrokers {
		if err := checkVerifyBroker(u); err != nil {
			return &SettingError{Key: "verify-brokers", Value: u, Reason: err.Error(), hide: true}
		}
	}
	if p.Encoding != "" {
		if err := checkEncoding(p.Encoding); err != nil {
			return bad("encoding", p.Encoding, "%v", err)
		}
	}
	return nil
}

// SettingError is a value a setting cannot take. Its message quotes the
// value unless it may be a secret pasted in the wrong place.
type SettingError struct {
	Key, Value, Reason string
	hide               bool
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Key, showValue(e.Value, e.hide), e.Reason)
}

func checkUsername(v string) error {
	if len(v) > 65535 {
		return errors.New("longer than MQTT allows (65535 bytes)")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return errors.New("control characters and invalid UTF-8 are not allowed")
		}
	}
	return nil
}

func checkTimeout(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return errors.New("want a positive duration like 30s or 2m")
	}
	return nil
}

func checkReadBackWait(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return errors.New("want a duration like 2s, or 0s to read once")
	}
	return nil
}

// checkFile accepts an existing regular file (a symlink to one too).
func checkFile(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errors.New("no such file")
	case err != nil:
		return err
	case !st.Mode().IsRegular():
		return errors.New("not a regular file")
	}
	return nil
}

// pubkeyRef turns a trusted key given to 'config set pubkey' into what the
// profile keeps: an existing file as an absolute path, file:PATH (which
// must exist), env:VAR, or the NAME of a key in the keyring. Something
// that looks like a path but names no file is refused, not taken for a
// keyring name.
func pubkeyRef(k string) (string, error) {
	if path, ok := strings.CutPrefix(k, "file:"); ok {
		if err := checkFile(path); err != nil {
			return "", err
		}
		return "file:" + absPath(path), nil
	}
	if strings.HasPrefix(k, "env:") {
		return k, checkPubkeyRef(k)
	}
	if st, err := os.Stat(k); err == nil {
		if !st.Mode().IsRegular() {
			return "", errors.New("not a regular file")
		}
		return absPath(k), nil
	}
	if keys.PathLike(k) {
		return "", errors.New("no such file")
	}
	return k, checkPubkeyRef(k)
}

// checkPubkeyRef checks the form of a kept trusted-key reference.
func checkPubkeyRef(k string) error {
	switch {
	case k == "":
		return errors.New("empty")
	case strings.HasPrefix(k, "file:"):
		if k == "file:" {
			return errors.New("file: needs a path")
		}
		return nil
	case strings.HasPrefix(k, "env:"):
		if !keys.EnvName(strings.TrimPrefix(k, "env:")) {
			return errors.New("env: needs an environment variable name like RELEASE_PUBKEY")
		}
		return nil
	case filepath.IsAbs(k):
		return nil
	case keys.PathLike(k):
		return errors.New("a key file is kept as an absolute path: set it again with 'otactl config set pubkey'")
	}
	if err := keys.ValidateKeyName(k); err != nil {
		return fmt.Errorf("not a file, file:PATH, env:VAR or keyring key name (%v)", err)
	}
	return nil
}

// LooksPasted reports a value no setting takes that could be a secret:
// key material, several lines, or a long random-looking word. Messages
// describe such a value instead of quoting it.
func LooksPasted(v string) bool { return pasted(v) }

func pasted(v string) bool {
	if strings.Contains(v, "-----BEGIN") || strings.ContainsAny(v, "\n\r") || len(v) > 4096 || keys.HoldsKeyHeader(v) {
		return true
	}
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune("/:.@,", r) }) {
		if randomLooking(w) {
			return true
		}
	}
	return false
}

// randomLooking tells base64 or hex of 16 bytes or more from a word
// someone chose. In random text the kind of character (upper case, lower
// case, digit) changes at about every other step and runs of lower case
// are short; in CamelCase names and numbers they are long.
func randomLooking(w string) bool {
	if len(w) < 32 {
		return false
	}
	kind := func(c byte) int {
		switch {
		case c >= 'A' && c <= 'Z':
			return 1
		case c >= 'a' && c <= 'z':
			return 2
		case c >= '0' && c <= '9':
			return 3
		}
		return 0
	}
	seen := map[int]bool{}
	changes, lower, lowerRuns := 0, 0, 0
	hex := true
	for i := 0; i < len(w); i++ {
		c := w[i]
		k := kind(c)
		seen[k] = true
		if i > 0 && k != kind(w[i-1]) {
			changes++
		}
		if k == 2 {
			lower++
			if i == 0 || kind(w[i-1]) != 2 {
				lowerRuns++
			}
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			hex = false
		}
	}
	mixed := seen[1] && seen[2] && seen[3]
	shortRuns := lowerRuns > 0 && lower*2 <= lowerRuns*5 // 2.5 on average
	return mixed && shortRuns && changes*10 >= len(w)*3 || hex && len(w) >= 40
}

// showValue quotes a value for a message, or describes it when it may be a
// secret or is too long to be useful.
func showValue(v string, hide bool) string {
	if hide || pasted(v) || len(v) > 256 {
		return fmt.Sprintf("(a %d-character value, not shown)", len(v))
	}
	return strconv.Quote(v)
}
