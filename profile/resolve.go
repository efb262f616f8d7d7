package profile

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/upload"
)

// Flags are the connection settings given on the command line. Given
// names the flags that were given (without dashes): those beat the
// environment and the profile, even when empty.
type Flags struct {
	Profile     string
	Broker      string
	Username    string
	ClientID    string
	CAFile      string
	CertFile    string
	KeyFile     string
	Insecure    bool
	TopicPrefix string
	Timeout     time.Duration
	// ReadBackWait is --read-back-wait; 0 reads once.
	ReadBackWait time.Duration
	// VerifyBrokers are --verify-broker's URLs: the other broker
	// endpoints devices use (Connection.Endpoints).
	VerifyBrokers []string
	Given         map[string]bool
}

// Connection is a resolved connection: the upload options (without the
// password) and the profile they came with.
type Connection struct {
	Options     upload.Options
	ProfileName string
	Profile     *Profile
	ConfigPath  string
	// VerifyBrokers are the other broker endpoints, normalised, without
	// Options.Broker (see Endpoints).
	VerifyBrokers []string
}

// FlagError is a value given on the command line that cannot be used: a
// misuse of the command line, where the same value from the environment
// or a file is an input error.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

func flagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// LoadFile reads the config file (OTACTL_CONFIG, else the one in the
// user's config folder) and returns its path too.
func LoadFile(getenv func(string) string) (string, *File, error) {
	path, err := DefaultPath(getenv)
	if err != nil {
		return "", nil, err
	}
	f, err := Load(path)
	if err != nil {
		return "", nil, err
	}
	return path, f, nil
}

// LoadActive reads the config file and picks the profile: explicit (from
// --profile), else OTACTL_PROFILE, else the file's current one, else
// "default". A profile so named must exist, except "default", which always
// does (with no settings when the file has none for it); one named by the
// flag that does not is a FlagError.
func LoadActive(getenv func(string) string, explicit string) (path, name string, p *Profile, err error) {
	path, f, err := LoadFile(getenv)
	if err != nil {
		return "", "", nil, err
	}
	fromFlag := explicit != ""
	if explicit == "" {
		explicit = getenv("OTACTL_PROFILE")
	}
	name = f.Active(explicit)
	p, ok := f.Get(name)
	if !ok {
		if explicit == "" {
			return "", "", nil, hint.Wrap(fmt.Errorf("profile %q, the current one in %s, does not exist", name, path),
				"choose another with 'otactl config use NAME' ('otactl config use default' for none)")
		}
		err = hint.Wrap(fmt.Errorf("profile %q does not exist in %s", name, path),
			"list profiles with 'otactl config list'; create one with 'otactl config set broker URL --profile "+name+"'")
		if fromFlag {
			err = &FlagError{Err: err}
		}
		return "", "", nil, err
	}
	return path, name, p, nil
}

// checkIn refuses a profile whose settings otactl could not use, naming
// the profile, the setting and the file.
func (p *Profile) checkIn(path, name string) error {
	key, err := "", p.Check()
	var se *SettingError
	if errors.As(err, &se) {
		key = se.Key
	}
	if err == nil {
		settings := [][2]string{{"broker", p.Broker}, {"client-id", p.ClientID}}
		if p.TopicPrefix != nil {
			settings = append(settings, [2]string{"topic-prefix", *p.TopicPrefix})
		}
		for _, kv := range settings {
			if kv[1] == "" && kv[0] != "topic-prefix" {
				continue
			}
			if err = CheckUploadSetting(kv[0], kv[1]); err != nil {
				key = kv[0]
				break
			}
		}
	}
	if err == nil {
		return nil
	}
	return hint.Wrap(fmt.Errorf("profile %q in %s: %w", name, path, err),
		fmt.Sprintf("fix it with 'otactl config set %s VALUE --profile %s', or clear it with 'otactl config unset %s --profile %s'", key, name, key, name))
}

// CheckUploadSetting checks the settings whose rules live in upload and
// protocol: broker, client-id and topic-prefix.
func CheckUploadSetting(key, value string) error {
	var err error
	switch key {
	case "broker":
		_, err = BrokerURL(value)
	case "client-id":
		err = upload.ValidateClientID(value)
	case "topic-prefix":
		_, err = protocol.NewTopics(value)
	}
	return err
}

// BrokerURL is upload.BrokerURL for a value the user gave, which is not
// repeated when it may be a secret pasted in the wrong place.
func BrokerURL(raw string) (*url.URL, error) {
	if LooksPasted(raw) {
		return nil, fmt.Errorf("broker address (a %d-character value, not shown): not a broker URL: use mqtt://, mqtts://, ws:// or wss://", len(raw))
	}
	return upload.BrokerURL(raw)
}

// Resolve merges flags, environment, profile and defaults, without the
// password: each setting comes from its flag, else its environment
// variable, else the profile, else the default. A broker from --broker or
// OTACTL_BROKER replaces the profile's whole connection (ConnectionKeys):
// with another broker none of the profile's user name, client id or TLS
// settings apply, while its topic prefix, timeout and publishing policy
// still do. Bad values are refused before any network traffic; one given
// with a flag is a FlagError.
func Resolve(fl Flags, getenv func(string) string) (*Connection, error) {
	if fl.Given["broker"] && strings.TrimSpace(fl.Broker) == "" {
		return nil, hint.Wrap(flagErrorf("--broker is empty"),
			"give a broker URL such as mqtt://localhost:1883, or leave --broker out to use OTACTL_BROKER, the profile or the default")
	}
	path, name, p, err := LoadActive(getenv, fl.Profile)
	if err != nil {
		return nil, err
	}
	if err := p.checkIn(path, name); err != nil {
		return nil, err
	}
	cn := &Connection{ProfileName: name, Profile: p, ConfigPath: path}
	r := resolver{flags: fl, getenv: getenv, from: map[string]string{}}
	r.connection(&cn.Options, p)
	if err := r.timeout(&cn.Options, p, name, path); err != nil {
		return nil, err
	}
	if err := r.check(&cn.Options); err != nil {
		return nil, err
	}
	if err := r.verifyBrokers(cn, p); err != nil {
		return nil, err
	}
	return cn, nil
}

// resolver picks each setting and remembers where it came from, which
// decides how a bad value is refused.
type resolver struct {
	flags  Flags
	getenv func(string) string
	from   map[string]string // setting -> "--flag", the variable, or "profile"
}

func (r *resolver) pick(flag, flagVal, env, prof string) string {
	if r.flags.Given[flag] {
		r.from[flag] = "--" + flag
		return flagVal
	}
	if env != "" {
		if v := r.getenv(env); v != "" {
			r.from[flag] = env
			return v
		}
	}
	r.from[flag] = "profile"
	return prof
}

// connection picks the broker, the user, the client id, TLS and the topic
// prefix.
func (r *resolver) connection(u *upload.Options, p *Profile) {
	fl := r.flags
	conn := p.Connection()
	if fl.Given["broker"] || r.getenv("OTACTL_BROKER") != "" {
		conn = &Profile{}
	}
	u.Broker = r.pick("broker", fl.Broker, "OTACTL_BROKER", conn.Broker)
	if u.Broker == "" {
		u.Broker = upload.DefaultBroker
	}
	u.Username = r.pick("username", fl.Username, "OTACTL_USERNAME", conn.Username)
	u.ClientID = r.pick("client-id", fl.ClientID, "", conn.ClientID)
	u.CAFile = r.pick("ca-file", fl.CAFile, "", conn.CAFile)
	u.CertFile = r.pick("cert-file", fl.CertFile, "", conn.CertFile)
	u.KeyFile = r.pick("key-file", fl.KeyFile, "", conn.KeyFile)
	u.Insecure = conn.Insecure
	if fl.Given["insecure"] {
		u.Insecure = fl.Insecure
	}
	switch {
	case fl.Given["topic-prefix"]:
		u.TopicPrefix = fl.TopicPrefix
		r.from["topic-prefix"] = "--topic-prefix"
	case r.getenv("OTACTL_TOPIC_PREFIX") != "":
		u.TopicPrefix = r.getenv("OTACTL_TOPIC_PREFIX")
		r.from["topic-prefix"] = "OTACTL_TOPIC_PREFIX"
	case p.TopicPrefix != nil:
		u.TopicPrefix = *p.TopicPrefix
	}
}

// timeout picks how long to wait for the broker's answers.
func (r *resolver) timeout(u *upload.Options, p *Profile, name, path string) error {
	switch {
	case r.flags.Given["timeout"]:
		if r.flags.Timeout <= 0 {
			return flagErrorf("--broker-timeout must be positive")
		}
		u.Timeout = r.flags.Timeout
	case p.Timeout != "":
		d, err := time.ParseDuration(p.Timeout) // checked by checkIn
		if err != nil || d <= 0 {
			return fmt.Errorf("profile %q in %s: timeout %q is not a positive duration", name, path, p.Timeout)
		}
		u.Timeout = d
	}
	return r.readBackWait(u, p)
}

// readBackWait picks how long a read-back looks again for a message not
// there yet: --read-back-wait, else the profile's, else upload's default.
// Zero reads once (upload takes a negative value for that).
func (r *resolver) readBackWait(u *upload.Options, p *Profile) error {
	d := time.Duration(0)
	switch {
	case r.flags.Given["read-back-wait"]:
		if r.flags.ReadBackWait < 0 {
			return flagErrorf("--read-back-wait must not be negative")
		}
		d = r.flags.ReadBackWait
	case p.ReadBackWait != "":
		d, _ = time.ParseDuration(p.ReadBackWait) // checked by checkIn
	default:
		return nil
	}
	u.ReadBackWait = d
	if d == 0 {
		u.ReadBackWait = -1
	}
	return nil
}

// check refuses bad settings, naming where each came from.
func (r *resolver) check(u *upload.Options) error {
	bad := func(key string, err error) error {
		switch src := r.from[key]; {
		case strings.HasPrefix(src, "--"):
			return flagErrorf("%s: %v", src, err)
		case src != "" && src != "profile":
			return fmt.Errorf("%s: %w", src, err)
		}
		return err
	}
	for _, kv := range [][2]string{{"broker", u.Broker}, {"username", u.Username}, {"client-id", u.ClientID},
		{"ca-file", u.CAFile}, {"cert-file", u.CertFile}, {"key-file", u.KeyFile}, {"topic-prefix", u.TopicPrefix}} {
		if LooksPasted(kv[1]) {
			return bad(kv[0], fmt.Errorf("%s (a %d-character value, not shown): this looks like key material or text pasted in the wrong place", kv[0], len(kv[1])))
		}
	}
	bu, err := BrokerURL(u.Broker)
	if err != nil {
		return bad("broker", err)
	}
	u.Broker = bu.String()
	if _, err := protocol.NewTopics(u.TopicPrefix); err != nil {
		return bad("topic-prefix", err)
	}
	if u.ClientID != "" {
		if err := upload.ValidateClientID(u.ClientID); err != nil {
			return bad("client-id", err)
		}
	}
	return nil
}
