package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/upload"
)

type loginOptions struct {
	Conn    connectOptions
	NoCheck bool
}

func newLoginCommand(sys *System) *cli.Command {
	opts := &loginOptions{}
	return &cli.Command{
		Name:      "login",
		Usage:     "store a broker password in the OS keyring",
		UsageText: "otactl login [--broker URL] [--username NAME] [--no-check] [connection flags]",
		Description: `Reads the password of --username on --broker (from the profile, env or
defaults as every command does) and stores it in the OS keyring under the
service "otactl", for that broker and user. On a terminal it asks without
echo; otherwise it reads the first line of standard input. The password is
never a command-line value. Before storing it, login connects once to check
it, unless --no-check.

Example:
   $ otactl login --broker mqtts://broker.example:8883 --username ci
   password for ci on mqtts://broker.example:8883: 
   logged in: ci on mqtts://broker.example:8883 (password stored in the keyring)
   $ printf '%s\n' "$BROKER_PASSWORD" | otactl login --username ci --no-check`,
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "no-check", Usage: "store the password without connecting to check it", Destination: &opts.NoCheck},
		}, connectFlags(&opts.Conn)...),
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 0 {
				// Not echoed: the argument may well be the password.
				return withHint(usageErrorf("login: unexpected argument (the password is read from the terminal or standard input, never from the command line)"), "printf '%s\\n' \"$PASSWORD\" | otactl login --username NAME")
			}
			return loginRun(c.Context, sys, opts)
		},
	}
}

func loginRun(ctx context.Context, sys *System, opts *loginOptions) error {
	u, err := opts.Conn.account(sys, "login")
	if err != nil {
		return err
	}
	pw, err := promptPassword(sys, fmt.Sprintf("password for %s on %s: ", u.Username, u.Broker))
	if err != nil {
		return err
	}
	if !opts.NoCheck {
		u.Password = pw
		c, err := upload.Connect(ctx, u)
		if err != nil {
			return fmt.Errorf("login: %w", err)
		}
		c.Close()
	}
	if err := sys.keyStore().SetPassword(u.Broker, u.Username, pw); err != nil {
		return withHint(fmt.Errorf("login: %w", err), "without a keyring, give the password through OTACTL_PASSWORD or --password-stdin")
	}
	fmt.Fprintf(sys.Stderr, "logged in: %s on %s (password stored in the keyring)\n", u.Username, u.Broker)
	return nil
}

// promptPassword asks on the terminal without echo, or reads the first
// line of standard input when it is not a terminal.
func promptPassword(sys *System, prompt string) (string, error) {
	if f, ok := sys.stdinFile(); ok && sys.StdinTTY {
		fmt.Fprint(sys.Stderr, prompt)
		b, err := sys.readTerminalPassword(f)
		fmt.Fprintln(sys.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", errors.New("read password: empty")
		}
		return pw, nil
	}
	return readPasswordLine(sys.Stdin)
}
