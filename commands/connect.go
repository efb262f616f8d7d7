package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/profile"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/upload"
)

// connectOptions are the flags of every command that talks to a broker.
// Each setting comes from its flag, else its environment variable, else
// the profile, else the default.
type connectOptions struct {
	Profile       string
	Broker        string
	Username      string
	PasswordStdin bool
	ClientID      string
	CAFile        string
	CertFile      string
	KeyFile       string
	Insecure      bool
	TopicPrefix   string
	Timeout       time.Duration

	set         map[string]bool // flags given on the command line
	stdinSecret string          // the password once read from standard input
}

// mark records that a flag was given, so that it beats env and profile.
func (o *connectOptions) mark(name string) {
	if o.set == nil {
		o.set = map[string]bool{}
	}
	o.set[name] = true
}

const connCategory = "Connection"

// connectFlags binds the connection flags into o.
func connectFlags(o *connectOptions) []cli.Flag {
	str := func(name, usage string, dest *string) cli.Flag {
		return &cli.StringFlag{Name: name, Usage: usage, Category: connCategory, Destination: dest,
			Action: func(*cli.Context, string) error { o.mark(name); return nil }}
	}
	return []cli.Flag{
		str("profile", "connection profile from the config file (env OTACTL_PROFILE)", &o.Profile),
		str("broker", "broker `URL`: mqtt://, mqtts://, ws:// or wss:// (env OTACTL_BROKER, default "+upload.DefaultBroker+")", &o.Broker),
		str("username", "broker user name (env OTACTL_USERNAME); the password comes from 'otactl login', OTACTL_PASSWORD or --password-stdin", &o.Username),
		&cli.BoolFlag{Name: "password-stdin", Usage: "read the broker password from the first line of standard input", Category: connCategory, Destination: &o.PasswordStdin},
		str("client-id", "MQTT client id (default otactl- and a random suffix)", &o.ClientID),
		str("ca-file", "PEM CA certificates that verify the broker (default: the system's)", &o.CAFile),
		str("cert-file", "PEM client certificate for mutual TLS", &o.CertFile),
		str("key-file", "PEM client key for mutual TLS", &o.KeyFile),
		&cli.BoolFlag{Name: "insecure", Usage: "do not verify the broker's certificate (testing only)", Category: connCategory, Destination: &o.Insecure,
			Action: func(*cli.Context, bool) error { o.mark("insecure"); return nil }},
		str("topic-prefix", "prefix of every topic, e.g. acme/ (env OTACTL_TOPIC_PREFIX)", &o.TopicPrefix),
		&cli.DurationFlag{Name: "timeout", Usage: "how long to wait for the broker's answers", DefaultText: upload.DefaultTimeout.String(), Category: connCategory, Destination: &o.Timeout,
			Action: func(*cli.Context, time.Duration) error { o.mark("timeout"); return nil }},
	}
}

// connection is the resolved connection settings and publishing policy.
type connection struct {
	Options     upload.Options
	ProfileName string
	Profile     *profile.Profile
	ConfigPath  string
	// PasswordFrom says where the password came from: "stdin", "env",
	// "keyring" or "" (none).
	PasswordFrom string
}

// loadProfile reads the config file and picks the profile: --profile,
// else OTACTL_PROFILE, else the file's current one, else "default". A
// profile so named must exist, except "default", which always does (with
// no settings when the file has none for it).
func loadProfile(sys *System, explicit string) (path, name string, p *profile.Profile, err error) {
	path, f, err := loadProfileFile(sys)
	if err != nil {
		return "", "", nil, err
	}
	if explicit == "" {
		explicit = sys.Getenv("OTACTL_PROFILE")
	}
	name = f.Active(explicit)
	p, ok := f.Get(name)
	if !ok {
		if explicit == "" {
			return "", "", nil, withHint(fmt.Errorf("profile %q, the current one in %s, does not exist", name, path),
				"choose another with 'otactl config use NAME' ('otactl config use default' for none)")
		}
		return "", "", nil, withHint(fmt.Errorf("profile %q does not exist in %s", name, path),
			"list profiles with 'otactl config list'; create one with 'otactl config set broker URL --profile "+name+"'")
	}
	return path, name, p, nil
}

// checkProfile refuses a profile whose settings otactl could not use,
// naming the profile, the setting and the file. Such a value was found in
// a file, not given on the command line: exit 1.
func checkProfile(path, name string, p *profile.Profile) error {
	key, err := "", p.Check()
	var se *profile.SettingError
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
			if err = checkUploadSetting(kv[0], kv[1]); err != nil {
				key = kv[0]
				break
			}
		}
	}
	if err == nil {
		return nil
	}
	return withHint(fmt.Errorf("profile %q in %s: %w", name, path, err),
		fmt.Sprintf("fix it with 'otactl config set %s VALUE --profile %s', or clear it with 'otactl config unset %s --profile %s'", key, name, key, name))
}

// checkUploadSetting checks the settings whose rules live in upload and
// protocol: broker, client-id and topic-prefix.
func checkUploadSetting(key, value string) error {
	var err error
	switch key {
	case "broker":
		_, err = brokerURL(value)
	case "client-id":
		err = upload.ValidateClientID(value)
	case "topic-prefix":
		_, err = protocol.NewTopics(value)
	}
	return err
}

// brokerURL is upload.BrokerURL for a value the user gave, which is not
// repeated when it may be a secret pasted in the wrong place.
func brokerURL(raw string) (*url.URL, error) {
	if profile.LooksPasted(raw) {
		return nil, fmt.Errorf("broker address (a %d-character value, not shown): not a broker URL: use mqtt://, mqtts://, ws:// or wss://", len(raw))
	}
	return upload.BrokerURL(raw)
}

// resolve merges flags, environment, profile and defaults, without the
// password. A broker from --broker or OTACTL_BROKER replaces the profile's
// whole connection (profile.ConnectionKeys): with another broker none of
// the profile's user name, client id or TLS settings apply, while its
// topic prefix, timeout and publishing policy still do. Connection flags
// and environment variables given alongside still apply.
func (o *connectOptions) resolve(sys *System) (*connection, error) {
	if o.set["broker"] && strings.TrimSpace(o.Broker) == "" {
		return nil, withHint(usageErrorf("--broker is empty"),
			"give a broker URL such as mqtt://localhost:1883, or leave --broker out to use OTACTL_BROKER, the profile or the default")
	}
	path, name, p, err := loadProfile(sys, o.Profile)
	if err != nil {
		return nil, err
	}
	if err := checkProfile(path, name, p); err != nil {
		return nil, err
	}
	cn := &connection{ProfileName: name, Profile: p, ConfigPath: path}
	// Where each setting came from decides the exit code of a bad value:
	// a flag is a usage error (2), anything else an input error (1).
	from := map[string]string{}
	pick := func(flag string, flagVal string, env string, prof string) string {
		if o.set[flag] {
			from[flag] = "--" + flag
			return flagVal
		}
		if env != "" {
			if v := sys.Getenv(env); v != "" {
				from[flag] = env
				return v
			}
		}
		from[flag] = "profile"
		return prof
	}
	conn := p.Connection()
	if o.set["broker"] || sys.Getenv("OTACTL_BROKER") != "" {
		conn = &profile.Profile{}
	}
	u := &cn.Options
	u.Broker = pick("broker", o.Broker, "OTACTL_BROKER", conn.Broker)
	if u.Broker == "" {
		u.Broker = upload.DefaultBroker
	}
	u.Username = pick("username", o.Username, "OTACTL_USERNAME", conn.Username)
	u.ClientID = pick("client-id", o.ClientID, "", conn.ClientID)
	u.CAFile = pick("ca-file", o.CAFile, "", conn.CAFile)
	u.CertFile = pick("cert-file", o.CertFile, "", conn.CertFile)
	u.KeyFile = pick("key-file", o.KeyFile, "", conn.KeyFile)
	u.Insecure = conn.Insecure
	if o.set["insecure"] {
		u.Insecure = o.Insecure
	}
	switch {
	case o.set["topic-prefix"]:
		u.TopicPrefix = o.TopicPrefix
		from["topic-prefix"] = "--topic-prefix"
	case sys.Getenv("OTACTL_TOPIC_PREFIX") != "":
		u.TopicPrefix = sys.Getenv("OTACTL_TOPIC_PREFIX")
		from["topic-prefix"] = "OTACTL_TOPIC_PREFIX"
	case p.TopicPrefix != nil:
		u.TopicPrefix = *p.TopicPrefix
	}
	switch {
	case o.set["timeout"]:
		if o.Timeout <= 0 {
			return nil, usageErrorf("--timeout must be positive")
		}
		u.Timeout = o.Timeout
	case p.Timeout != "":
		d, err := time.ParseDuration(p.Timeout) // checked by checkProfile
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("profile %q in %s: timeout %q is not a positive duration", name, path, p.Timeout)
		}
		u.Timeout = d
	}
	u.Warn = func(msg string) { fmt.Fprintln(sys.Stderr, "warning: "+msg) }
	if sys.StderrTTY {
		u.Progress = newProgressBar(sys.Stderr).update
	}
	// Refuse bad settings before any network traffic.
	bad := func(key string, err error) error {
		switch src := from[key]; {
		case strings.HasPrefix(src, "--"):
			return usageErrorf("%s: %v", src, err)
		case src != "" && src != "profile":
			return fmt.Errorf("%s: %w", src, err)
		}
		return err
	}
	for _, kv := range [][2]string{{"broker", u.Broker}, {"username", u.Username}, {"client-id", u.ClientID},
		{"ca-file", u.CAFile}, {"cert-file", u.CertFile}, {"key-file", u.KeyFile}, {"topic-prefix", u.TopicPrefix}} {
		if profile.LooksPasted(kv[1]) {
			return nil, bad(kv[0], fmt.Errorf("%s (a %d-character value, not shown): this looks like key material or text pasted in the wrong place", kv[0], len(kv[1])))
		}
	}
	bu, err := brokerURL(u.Broker)
	if err != nil {
		return nil, bad("broker", err)
	}
	u.Broker = bu.String()
	if _, err := protocol.NewTopics(u.TopicPrefix); err != nil {
		return nil, bad("topic-prefix", err)
	}
	if u.ClientID != "" {
		if err := upload.ValidateClientID(u.ClientID); err != nil {
			return nil, bad("client-id", err)
		}
	}
	return cn, nil
}

// topics are the topics under the resolved prefix.
func (cn *connection) topics() protocol.Topics {
	t, _ := protocol.NewTopics(cn.Options.TopicPrefix) // checked in resolve
	return t
}

// password finds the broker password: --password-stdin, else
// OTACTL_PASSWORD, else the keyring (for the broker and user name).
func (o *connectOptions) password(sys *System, cn *connection) error {
	switch {
	case o.PasswordStdin:
		if o.stdinSecret == "" {
			pw, err := readPasswordLine(sys.Stdin)
			if err != nil {
				return err
			}
			o.stdinSecret = pw
		}
		cn.Options.Password, cn.PasswordFrom = o.stdinSecret, "stdin"
	case sys.Getenv("OTACTL_PASSWORD") != "":
		cn.Options.Password, cn.PasswordFrom = sys.Getenv("OTACTL_PASSWORD"), "env"
	case cn.Options.Username != "" && sys.Keyring != nil:
		pw, err := sys.keyStore().Password(cn.Options.Broker, cn.Options.Username)
		switch {
		case err == nil:
			cn.Options.Password, cn.PasswordFrom = pw, "keyring"
		case errors.Is(err, keys.ErrNotFound):
			// Some brokers take a user name alone.
		default:
			fmt.Fprintf(sys.Stderr, "warning: no password from the keyring (%v): connecting without one\n", err)
		}
	}
	if cn.Options.Password != "" && cn.Options.Username == "" {
		return withHint(errors.New("a password was given but no user name"), "set --username, OTACTL_USERNAME or the profile's username")
	}
	return nil
}

// readPasswordLine reads the first line of r, without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("read password from standard input: empty")
	}
	return line, nil
}

// open resolves everything, password included, and connects.
func (o *connectOptions) open(ctx context.Context, sys *System) (*upload.Client, *connection, error) {
	cn, err := o.resolve(sys)
	if err != nil {
		return nil, nil, err
	}
	if err := o.password(sys, cn); err != nil {
		return nil, nil, err
	}
	c, err := upload.Connect(ctx, cn.Options)
	if err != nil {
		var ce *upload.ConnectError
		if errors.As(err, &ce) && strings.Contains(ce.Reason, "username or password") && cn.PasswordFrom == "" {
			return nil, nil, withHint(err, "no password was given: store one with 'otactl login', or set OTACTL_PASSWORD, or use --password-stdin")
		}
		return nil, nil, err
	}
	return c, cn, nil
}

// dial returns a function that connects with o's settings, for commands
// that connect later or more than once.
func (o *connectOptions) dial(sys *System) func(ctx context.Context) (*upload.Client, error) {
	return func(ctx context.Context) (*upload.Client, error) {
		c, _, err := o.open(ctx, sys)
		return c, err
	}
}
