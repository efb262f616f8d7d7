// Package profile keeps named connection profiles in otactl's config file
// (config.json under the user's config folder): which broker, user, TLS
// files and topic prefix to use, and the publishing policy (max-payload,
// require-signatures and trusted public keys). It holds no secrets.
package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otactl/otactl/internal/regularfile"
	"github.com/otactl/otactl/keys"
)

// DefaultName is the profile used when none is chosen.
const DefaultName = "default"

// maxFile caps how much of a config file is read.
const maxFile = 1 << 20

// Profile is one named set of settings. Empty fields are unset.
type Profile struct {
	Broker            string   `json:"broker,omitempty"`
	Username          string   `json:"username,omitempty"`
	ClientID          string   `json:"client-id,omitempty"`
	CAFile            string   `json:"ca-file,omitempty"`
	CertFile          string   `json:"cert-file,omitempty"`
	KeyFile           string   `json:"key-file,omitempty"`
	Insecure          bool     `json:"insecure,omitempty"`
	TopicPrefix       *string  `json:"topic-prefix,omitempty"` // nil: unset; "" is a set empty prefix
	Timeout           string   `json:"timeout,omitempty"`      // a Go duration, "30s"
	MaxPayload        int64    `json:"max-payload,omitempty"`  // bytes
	RequireSignatures bool     `json:"require-signatures,omitempty"`
	Pubkeys           []string `json:"pubkey,omitempty"` // trusted public keys: files or keyring names
	Threshold         int      `json:"threshold,omitempty"`
}

// File is the whole config file.
type File struct {
	// Current is the profile used when neither --profile nor
	// OTACTL_PROFILE names one.
	Current  string              `json:"current,omitempty"`
	Profiles map[string]*Profile `json:"profiles"`
}

// Keys are the settings a profile holds, in the order they are listed.
var Keys = []string{
	"broker", "username", "client-id", "ca-file", "cert-file", "key-file", "insecure",
	"topic-prefix", "timeout", "max-payload", "require-signatures", "pubkey", "threshold",
}

// ConnectionKeys are the settings that say how to reach a broker. A broker
// given by flag or environment replaces all of them: none of the profile's
// is used with another broker. The other keys (topic-prefix, timeout and
// the publishing policy) still come from the profile.
var ConnectionKeys = []string{"broker", "username", "client-id", "ca-file", "cert-file", "key-file", "insecure"}

// Connection returns p's connection settings alone (ConnectionKeys).
func (p *Profile) Connection() *Profile {
	return &Profile{Broker: p.Broker, Username: p.Username, ClientID: p.ClientID,
		CAFile: p.CAFile, CertFile: p.CertFile, KeyFile: p.KeyFile, Insecure: p.Insecure}
}

// DefaultPath is the config file: $OTACTL_CONFIG when set, else
// config.json in the otactl folder of the user's config folder
// ($XDG_CONFIG_HOME or ~/.config on Linux). getenv reads the environment.
func DefaultPath(getenv func(string) string) (string, error) {
	if p := getenv("OTACTL_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := configDir(getenv)
	if err != nil {
		return "", fmt.Errorf("find the config folder: %w (set OTACTL_CONFIG to a file path)", err)
	}
	return filepath.Join(dir, "otactl", "config.json"), nil
}

// configDir is os.UserConfigDir reading the environment through getenv.
func configDir(getenv func(string) string) (string, error) {
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		return os.UserConfigDir()
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		if !filepath.IsAbs(d) {
			return "", errors.New("XDG_CONFIG_HOME is not an absolute path")
		}
		return d, nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("neither XDG_CONFIG_HOME nor HOME is set")
	}
	return filepath.Join(home, ".config"), nil
}

// Load reads a config file; a missing file is an empty one.
func Load(path string) (*File, error) {
	f := &File{Profiles: map[string]*Profile{}}
	data, err := regularfile.ReadFile(path, maxFile)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	var tl *regularfile.TooLargeError
	if errors.As(err, &tl) {
		return nil, fmt.Errorf("config %s: larger than %d bytes", path, maxFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(f); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if f.Profiles == nil {
		f.Profiles = map[string]*Profile{}
	}
	for name, p := range f.Profiles {
		if err := ValidateName(name); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		if p == nil {
			f.Profiles[name] = &Profile{}
		}
	}
	if f.Current != "" {
		if err := ValidateName(f.Current); err != nil {
			return nil, fmt.Errorf("config %s: current: %w", path, err)
		}
	}
	return f, nil
}

// Save writes the file atomically (a temporary file and a rename), readable
// by the user only, creating its folder.
func (f *File) Save(path string) (err error) {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := regularfile.Write(path, data, regularfile.Options{Private: true}); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// Names lists the profiles, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Profiles))
	for n := range f.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Active names the profile in use: explicit (from --profile or
// OTACTL_PROFILE) when set, else the file's current one, else "default".
func (f *File) Active(explicit string) string {
	switch {
	case explicit != "":
		return explicit
	case f.Current != "":
		return f.Current
	}
	return DefaultName
}

// Get returns a profile, or an empty one (not stored) when it does not
// exist. The default profile always exists: without an entry in the file
// it has no settings.
func (f *File) Get(name string) (*Profile, bool) {
	p, ok := f.Profiles[name]
	if !ok {
		return &Profile{}, name == DefaultName
	}
	return p, true
}

// Ensure returns the named profile, adding an empty one when missing.
func (f *File) Ensure(name string) (*Profile, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	p, ok := f.Profiles[name]
	if !ok {
		p = &Profile{}
		f.Profiles[name] = p
	}
	return p, nil
}

// ValidateName accepts a profile name: 1 to 64 characters of
// [A-Za-z0-9._-], not starting with '.' or '-'.
func ValidateName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("profile name %q: must be 1 to 64 characters", name)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("profile name %q: must not start with %q", name, name[0])
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("profile name %q: %q is not allowed (use letters, digits, '.', '_', '-')", name, r)
		}
	}
	return nil
}

// Set sets a key from its text. pubkey adds a key to the list (several
// may be given separated by commas); the others replace the value. A value
// is checked as far as it can be without the network: a duration must be
// positive, a size or count a number, a file must exist.
func (p *Profile) Set(key, value string) error {
	bad := func(format string, args ...any) error {
		return &SettingError{Key: key, Value: value, Reason: fmt.Sprintf(format, args...)}
	}
	if key != "topic-prefix" && value == "" {
		if !knownKey(key) {
			return unknownKey(key)
		}
		return bad("empty: to clear it use 'otactl config unset %s'", key)
	}
	if pasted(value) {
		return &SettingError{Key: key, Value: value, Reason: "this looks like key material or text pasted in the wrong place", hide: true}
	}
	switch key {
	case "broker":
		if strings.Contains(value, "@") {
			// The value may hold a password: never repeat it.
			return &SettingError{Key: key, Value: value, Reason: "credentials in the URL are not kept: use 'otactl config set username' and 'otactl login'", hide: true}
		}
		p.Broker = value
	case "username":
		if err := checkUsername(value); err != nil {
			return bad("%v", err)
		}
		p.Username = value
	case "client-id":
		p.ClientID = value
	case "ca-file", "cert-file", "key-file":
		if err := checkFile(value); err != nil {
			return bad("%v", err)
		}
		switch key {
		case "ca-file":
			p.CAFile = absPath(value)
		case "cert-file":
			p.CertFile = absPath(value)
		default:
			p.KeyFile = absPath(value)
		}
	case "insecure":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return bad("want true or false")
		}
		p.Insecure = b
	case "topic-prefix":
		v := value
		p.TopicPrefix = &v
	case "timeout":
		if err := checkTimeout(value); err != nil {
			return bad("%v", err)
		}
		p.Timeout = value
	case "max-payload":
		n, err := ParseSize(value)
		if err != nil {
			return bad("want a positive size like 131072, 128k or 16M")
		}
		p.MaxPayload = n
	case "require-signatures":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return bad("want true or false")
		}
		p.RequireSignatures = b
	case "pubkey":
		var add []string
		for _, k := range strings.Split(value, ",") {
			k = strings.TrimSpace(k)
			if k == "" {
				continue
			}
			ref, err := pubkeyRef(k)
			if err != nil {
				return &SettingError{Key: key, Value: k, Reason: err.Error()}
			}
			add = append(add, ref)
		}
		if len(add) == 0 {
			return bad("no key given: use a file, file:PATH, env:VAR or a keyring key NAME")
		}
		for _, k := range add {
			if !contains(p.Pubkeys, k) {
				p.Pubkeys = append(p.Pubkeys, k)
			}
		}
	case "threshold":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return bad("want a number of signatures, 0 or more")
		}
		p.Threshold = n
	default:
		return unknownKey(key)
	}
	return nil
}

// Check finds the first setting of p, as read from a config file, that
// Set would have refused: a hand-edited file gets the same checks as
// 'otactl config set'. (Files are not required to exist here: using the
// profile reports a missing one.)
func (p *Profile) Check() error {
	bad := func(key, value, format string, args ...any) error {
		return &SettingError{Key: key, Value: value, Reason: fmt.Sprintf(format, args...), hide: pasted(value)}
	}
	for _, kv := range [][2]string{{"broker", p.Broker}, {"username", p.Username}, {"client-id", p.ClientID},
		{"ca-file", p.CAFile}, {"cert-file", p.CertFile}, {"key-file", p.KeyFile}, {"timeout", p.Timeout}} {
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
	if p.MaxPayload < 0 {
		return bad("max-payload", strconv.FormatInt(p.MaxPayload, 10), "want a positive size like 131072, 128k or 16M")
	}
	if p.Threshold < 0 {
		return bad("threshold", strconv.Itoa(p.Threshold), "want a number of signatures, 0 or more")
	}
	for _, k := range p.Pubkeys {
		if err := checkPubkeyRef(k); err != nil {
			return &SettingError{Key: "pubkey", Value: k, Reason: err.Error(), hide: pasted(k)}
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
	if looksLikePath(k) {
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
		if !envName(strings.TrimPrefix(k, "env:")) {
			return errors.New("env: needs an environment variable name like RELEASE_PUBKEY")
		}
		return nil
	case filepath.IsAbs(k):
		return nil
	case looksLikePath(k):
		return errors.New("a key file is kept as an absolute path: set it again with 'otactl config set pubkey'")
	}
	if err := keys.ValidateKeyName(k); err != nil {
		return fmt.Errorf("not a file, file:PATH, env:VAR or keyring key name (%v)", err)
	}
	return nil
}

func looksLikePath(k string) bool {
	if strings.ContainsAny(k, `/\`) {
		return true
	}
	for _, ext := range []string{".pem", ".pub", ".der", ".key"} {
		if strings.HasSuffix(strings.ToLower(k), ext) {
			return true
		}
	}
	return false
}

func envName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// LooksPasted reports a value no setting takes that could be a secret:
// key material, several lines, or a long random-looking word. Messages
// describe such a value instead of quoting it.
func LooksPasted(v string) bool { return pasted(v) }

func pasted(v string) bool {
	if strings.Contains(v, "-----BEGIN") || strings.ContainsAny(v, "\n\r") || len(v) > 4096 {
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

func knownKey(key string) bool { return contains(Keys, key) }

// Unset clears a key.
func (p *Profile) Unset(key string) error {
	switch key {
	case "broker":
		p.Broker = ""
	case "username":
		p.Username = ""
	case "client-id":
		p.ClientID = ""
	case "ca-file":
		p.CAFile = ""
	case "cert-file":
		p.CertFile = ""
	case "key-file":
		p.KeyFile = ""
	case "insecure":
		p.Insecure = false
	case "topic-prefix":
		p.TopicPrefix = nil
	case "timeout":
		p.Timeout = ""
	case "max-payload":
		p.MaxPayload = 0
	case "require-signatures":
		p.RequireSignatures = false
	case "pubkey":
		p.Pubkeys = nil
	case "threshold":
		p.Threshold = 0
	default:
		return unknownKey(key)
	}
	return nil
}

// Get returns a key's value as text, and whether it is set.
func (p *Profile) Get(key string) (string, bool, error) {
	switch key {
	case "broker":
		return p.Broker, p.Broker != "", nil
	case "username":
		return p.Username, p.Username != "", nil
	case "client-id":
		return p.ClientID, p.ClientID != "", nil
	case "ca-file":
		return p.CAFile, p.CAFile != "", nil
	case "cert-file":
		return p.CertFile, p.CertFile != "", nil
	case "key-file":
		return p.KeyFile, p.KeyFile != "", nil
	case "insecure":
		return strconv.FormatBool(p.Insecure), p.Insecure, nil
	case "topic-prefix":
		if p.TopicPrefix == nil {
			return "", false, nil
		}
		return *p.TopicPrefix, true, nil
	case "timeout":
		return p.Timeout, p.Timeout != "", nil
	case "max-payload":
		return strconv.FormatInt(p.MaxPayload, 10), p.MaxPayload != 0, nil
	case "require-signatures":
		return strconv.FormatBool(p.RequireSignatures), p.RequireSignatures, nil
	case "pubkey":
		return strings.Join(p.Pubkeys, ","), len(p.Pubkeys) > 0, nil
	case "threshold":
		return strconv.Itoa(p.Threshold), p.Threshold != 0, nil
	}
	return "", false, unknownKey(key)
}

// Settings lists the keys that are set, in the order of Keys, with their
// values as text.
func (p *Profile) Settings() [][2]string {
	var out [][2]string
	for _, k := range Keys {
		if v, ok, _ := p.Get(k); ok {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

func unknownKey(key string) error {
	return fmt.Errorf("unknown setting %q: use one of %s", key, strings.Join(Keys, ", "))
}

// ParseSize reads a byte count: a number with an optional suffix of k, M
// or G (powers of 1024; KiB, MiB, GiB and KB, MB, GB mean the same).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, suf := range []struct {
		s string
		m int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(lower, suf.s) {
			t, mult = strings.TrimSpace(t[:len(t)-len(suf.s)]), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a positive size like 131072, 128k or 16M", s)
	}
	return n * mult, nil
}

func absPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
