// Package profile keeps named connection profiles in otactl's config file
// (config.json under the user's config folder): which broker, user, TLS
// files and topic prefix to use, and the publishing policy (max-payload,
// require-signatures and trusted public keys, the desired manifest's
// encoding, strict mode), and the PKCS#11 module of token keys. It holds
// no secrets.
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

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/regularfile"
)

// DefaultName is the profile used when none is chosen.
const DefaultName = "default"

// maxFile caps how much of a config file is read.
const maxFile = 1 << 20

// Profile is one named set of settings. Empty fields are unset.
type Profile struct {
	Broker      string  `json:"broker,omitempty"`
	Username    string  `json:"username,omitempty"`
	ClientID    string  `json:"client-id,omitempty"`
	CAFile      string  `json:"ca-file,omitempty"`
	CertFile    string  `json:"cert-file,omitempty"`
	KeyFile     string  `json:"key-file,omitempty"`
	Insecure    bool    `json:"insecure,omitempty"`
	TopicPrefix *string `json:"topic-prefix,omitempty"` // nil: unset; "" is a set empty prefix
	Timeout     string  `json:"timeout,omitempty"`      // a Go duration, "30s"
	// ReadBackWait is how long a read-back looks again for a message not
	// there yet (upload.Options.ReadBackWait), a Go duration; "0s" reads
	// once.
	ReadBackWait string `json:"read-back-wait,omitempty"`
	MaxPayload   int64  `json:"max-payload,omitempty"` // bytes
	// BlockSize publishes every artifact in blocks of this many bytes
	// (docs/protocol.md#block-artifacts), as --block-size does.
	BlockSize         int64    `json:"block-size,omitempty"`
	RequireSignatures bool     `json:"require-signatures,omitempty"`
	Pubkeys           []string `json:"pubkey,omitempty"` // trusted public keys: files or keyring names
	// RootPubkeys are the root keys devices trust (key rotation): the key
	// set a fleet follows must be signed by them (--root-pubkey).
	RootPubkeys []string `json:"root-pubkey,omitempty"`
	Threshold   int      `json:"threshold,omitempty"`
	// Encoding is the desired manifest's encoding when publishing: json
	// or cbor; "" is unset (json).
	Encoding string `json:"encoding,omitempty"`
	// Strict refuses a release the device-compatibility lint has
	// findings about (release.Lint).
	Strict bool `json:"strict,omitempty"`
	// PKCS11Module is the PKCS#11 library that pkcs11: key references
	// without a module-path load.
	PKCS11Module string `json:"pkcs11-module,omitempty"`
	// SignerPubkey is the public key of the exec: signer (a reference as
	// for pubkey), used when --signer-pubkey and OTACTL_SIGNER_PUBKEY are not.
	SignerPubkey string `json:"signer-pubkey,omitempty"`
	// VerifyBrokers are the other broker endpoints devices use (cluster
	// nodes, bridged edges): a publish confirms every step on each.
	VerifyBrokers []string `json:"verify-brokers,omitempty"`
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
	"topic-prefix", "timeout", "read-back-wait", "max-payload", "block-size", "require-signatures", "pubkey", "root-pubkey", "threshold",
	"encoding", "strict", "pkcs11-module", "signer-pubkey", "verify-brokers",
}

// ConnectionKeys are the settings that say how to reach a broker. A broker
// given by flag or environment replaces all of them: none of the profile's
// is used with another broker. The other keys (topic-prefix, timeout and
// the publishing policy) still come from the profile.
var ConnectionKeys = []string{"broker", "username", "client-id", "ca-file", "cert-file", "key-file", "insecure", "verify-brokers"}

// Connection returns p's connection settings alone (ConnectionKeys).
func (p *Profile) Connection() *Profile {
	return &Profile{Broker: p.Broker, Username: p.Username, ClientID: p.ClientID,
		CAFile: p.CAFile, CertFile: p.CertFile, KeyFile: p.KeyFile, Insecure: p.Insecure, VerifyBrokers: p.VerifyBrokers}
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
		return nil, hint.Wrap(fmt.Errorf("config %s: %w", path, err),
			"fix the file (JSON, as README \"Configuration reference\" shows), or move it away to start from no profile (otactl config set writes a new one)")
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
	case "username", "timeout", "read-back-wait":
		if err := textChecks[key](value); err != nil {
			return bad("%v", err)
		}
		*p.text(key) = value
	case "client-id":
		p.ClientID = value
	case "ca-file", "cert-file", "key-file", "pkcs11-module":
		if err := checkFile(value); err != nil {
			return bad("%v", err)
		}
		*p.text(key) = absPath(value)
	case "insecure", "require-signatures", "strict":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return bad("want true or false")
		}
		*p.flag(key) = b
	case "topic-prefix":
		v := value
		p.TopicPrefix = &v
	case "max-payload", "block-size":
		n, err := ParseSize(value)
		if err != nil {
			return bad("want a positive size like 131072, 128k or 16M")
		}
		*p.size(key) = n
	case "pubkey", "root-pubkey":
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
		list := p.keyList(key)
		for _, k := range add {
			if !contains(*list, k) {
				*list = append(*list, k)
			}
		}
	case "verify-brokers":
		return p.addVerifyBrokers(value)
	case "signer-pubkey":
		ref, err := pubkeyRef(value)
		if err != nil {
			return bad("%v", err)
		}
		p.SignerPubkey = ref
	case "threshold":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return bad("want a number of signatures, 0 or more")
		}
		p.Threshold = n
	case "encoding":
		if err := checkEncoding(value); err != nil {
			return bad("%v", err)
		}
		p.Encoding = value
	default:
		return unknownKey(key)
	}
	return nil
}

// textChecks check the settings kept as text that have a form of their own.
var textChecks = map[string]func(string) error{
	"username": checkUsername, "timeout": checkTimeout, "read-back-wait": checkReadBackWait,
}

func knownKey(key string) bool { return contains(Keys, key) }

// text is the field of a setting kept as text, or nil for another key.
func (p *Profile) text(key string) *string {
	return map[string]*string{
		"broker": &p.Broker, "username": &p.Username, "client-id": &p.ClientID,
		"ca-file": &p.CAFile, "cert-file": &p.CertFile, "key-file": &p.KeyFile,
		"timeout": &p.Timeout, "read-back-wait": &p.ReadBackWait, "pkcs11-module": &p.PKCS11Module, "signer-pubkey": &p.SignerPubkey,
	}[key]
}

// keyList is the field of a setting that lists public keys.
func (p *Profile) keyList(key string) *[]string {
	if key == "root-pubkey" {
		return &p.RootPubkeys
	}
	return &p.Pubkeys
}

// flag is the field of a true-or-false setting.
func (p *Profile) flag(key string) *bool {
	switch key {
	case "insecure":
		return &p.Insecure
	case "require-signatures":
		return &p.RequireSignatures
	case "strict":
		return &p.Strict
	}
	return nil
}

// Unset clears a key.
func (p *Profile) Unset(key string) error {
	if t := p.text(key); t != nil {
		*t = ""
		return nil
	}
	switch key {
	case "insecure", "require-signatures":
		*p.flag(key) = false
	case "topic-prefix":
		p.TopicPrefix = nil
	case "max-payload", "block-size":
		*p.size(key) = 0
	case "pubkey", "root-pubkey":
		*p.keyList(key) = nil
	case "threshold":
		p.Threshold = 0
	case "encoding":
		p.Encoding = ""
	case "strict":
		p.Strict = false
	case "verify-brokers":
		p.VerifyBrokers = nil
	default:
		return unknownKey(key)
	}
	return nil
}

// Get returns a key's value as text, and whether it is set.
func (p *Profile) Get(key string) (string, bool, error) {
	if t := p.text(key); t != nil {
		return *t, *t != "", nil
	}
	switch key {
	case "insecure", "require-signatures":
		b := *p.flag(key)
		return strconv.FormatBool(b), b, nil
	case "topic-prefix":
		if p.TopicPrefix == nil {
			return "", false, nil
		}
		return *p.TopicPrefix, true, nil
	case "max-payload", "block-size":
		n := *p.size(key)
		return strconv.FormatInt(n, 10), n != 0, nil
	case "pubkey", "root-pubkey":
		list := *p.keyList(key)
		return strings.Join(list, ","), len(list) > 0, nil
	case "threshold":
		return strconv.Itoa(p.Threshold), p.Threshold != 0, nil
	case "encoding":
		return p.Encoding, p.Encoding != "", nil
	case "strict":
		return strconv.FormatBool(p.Strict), p.Strict, nil
	case "verify-brokers":
		return strings.Join(p.VerifyBrokers, ","), len(p.VerifyBrokers) > 0, nil
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

// size is the size setting key names: max-payload or block-size.
func (p *Profile) size(key string) *int64 {
	if key == "block-size" {
		return &p.BlockSize
	}
	return &p.MaxPayload
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
