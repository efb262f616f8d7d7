package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/clihelp"
	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/profile"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/upload"
)

// connectOptions are the flags of every command that talks to a broker.
// profile.Resolve merges them with the environment and the profile.
type connectOptions struct {
	profile.Flags
	PasswordStdin bool

	stdinSecret string // the password once read from standard input
}

// given says whether a flag was given, so that it beats env and profile.
func (o *connectOptions) given(name string) bool { return o.Given[name] }

// mark records that a flag was given.
func (o *connectOptions) mark(name string) {
	if o.Given == nil {
		o.Given = map[string]bool{}
	}
	o.Given[name] = true
}

const connCategory = "Connection"

// connectFlags binds the connection flags into o.
func connectFlags(o *connectOptions) []cli.Flag {
	str := func(name, usage string, dest *string) cli.Flag {
		return &cli.StringFlag{Name: name, Usage: usage, Category: connCategory, Destination: dest,
			Action: func(*cli.Context, string) error { o.mark(name); return nil }}
	}
	brokerTimeout := &cli.DurationFlag{Name: "broker-timeout", Usage: "how long to wait for each of the broker's answers (profile setting timeout)", DefaultText: upload.DefaultTimeout.String(), Category: connCategory, Destination: &o.Timeout,
		Action: func(*cli.Context, time.Duration) error { o.mark("timeout"); return nil }}
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
		brokerTimeout,
		&cli.DurationFlag{Name: "read-back-wait", Usage: "how long a read-back looks again for a message the broker acknowledged but does not serve yet, as a cluster may (0s: read once; profile setting read-back-wait)", DefaultText: upload.DefaultReadBackWait.String(), Category: connCategory, Destination: &o.ReadBackWait,
			Action: func(*cli.Context, time.Duration) error { o.mark("read-back-wait"); return nil }},
		// --timeout is a command's overall deadline (rollout wait, demo).
		clihelp.Deprecated("timeout", brokerTimeout),
	}
}

// verifyBrokerFlag is --verify-broker, of the commands that confirm each
// step on every broker endpoint devices use: upload, release publish,
// rollback and unpublish.
func verifyBrokerFlag(o *connectOptions) cli.Flag {
	return &cli.StringSliceFlag{Name: "verify-broker", Usage: "another broker `URL` devices use (a cluster node, a bridged edge): every step is confirmed there too, with this connection's user and TLS settings (repeatable; env " + profile.VerifyBrokersEnv + ", comma-separated; profile setting verify-brokers)", Category: connCategory,
		Action: func(_ *cli.Context, v []string) error { o.VerifyBrokers = v; o.mark("verify-broker"); return nil }}
}

// connection is the resolved connection settings and publishing policy.
type connection struct {
	*profile.Connection
	// PasswordFrom says where the password came from: "stdin", "env",
	// "keyring" or "" (none).
	PasswordFrom string
}

// resolve merges flags, environment, profile and defaults, without the
// password (see profile.Resolve), and reports on sys's standard error.
func (o *connectOptions) resolve(sys *System) (*connection, error) {
	pc, err := profile.Resolve(o.Flags, sys.Getenv)
	if err != nil {
		return nil, err
	}
	u := &pc.Options
	u.Warn = func(msg string) { fmt.Fprintln(sys.Stderr, "warning: "+msg) }
	if sys.StderrTTY {
		u.Progress = output.NewProgressBar(sys.Stderr).Update
	}
	return &connection{Connection: pc}, nil
}

// account resolves the connection settings of the command cmd, which
// stores or removes the password of their user on their broker: it needs a
// user name.
func (o *connectOptions) account(sys *System, cmd string) (upload.Options, error) {
	cn, err := o.resolve(sys)
	if err != nil {
		return upload.Options{}, err
	}
	if cn.Options.Username == "" {
		return upload.Options{}, usageErrorf("%s: no user name: give --username, OTACTL_USERNAME or the profile's username", cmd)
	}
	return cn.Options, nil
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
func (o *connectOptions) open(ctx context.Context, sys *System) (*upload.Client, error) {
	c, _, err := o.openResolved(ctx, sys)
	return c, err
}

// openResolved is open, and returns the connection resolved too.
func (o *connectOptions) openResolved(ctx context.Context, sys *System) (*upload.Client, *connection, error) {
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
		if errors.As(err, &ce) && ce.BadCredentials() && cn.PasswordFrom == "" {
			return nil, nil, withHint(err, "no password was given: store one with 'otactl login', or set OTACTL_PASSWORD, or use --password-stdin")
		}
		return nil, nil, err
	}
	return c, cn, nil
}

// withEndpoints connects with o's settings and to every other broker
// endpoint (--verify-broker, profile.Connection.Endpoints), runs work on
// them and closes them all. An endpoint that cannot be reached fails it
// before work runs.
func (o *connectOptions) withEndpoints(ctx context.Context, sys *System, work func(*upload.Client, []publish.Endpoint) error) error {
	client, cn, err := o.openResolved(ctx, sys)
	if err != nil {
		return err
	}
	defer client.Close()
	eps, err := publish.ConnectEndpoints(ctx, cn.Endpoints()[1:])
	if err != nil {
		return err
	}
	defer eps.Close()
	return work(client, eps.List)
}

// withClient connects with o's settings, runs work on the connection and
// closes it.
func (o *connectOptions) withClient(ctx context.Context, sys *System, work func(*upload.Client) error) error {
	return o.dial(sys).with(ctx, work)
}

// dial returns a function that connects with o's settings, for commands
// that connect later or more than once.
func (o *connectOptions) dial(sys *System) dialer {
	return func(ctx context.Context) (*upload.Client, error) { return o.open(ctx, sys) }
}
