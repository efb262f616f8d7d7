package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/keys"
)

type logoutOptions struct {
	Conn connectOptions
}

func newLogoutCommand(sys *System) *cli.Command {
	opts := &logoutOptions{}
	return &cli.Command{
		Name:      "logout",
		Usage:     "remove a broker password from the OS keyring",
		UsageText: "otactl logout [--broker URL] [--username NAME] [connection flags]",
		Description: `Removes the stored password of the user on the broker (as 'otactl login'
stored it).

Example:
   $ otactl logout --broker mqtts://broker.example:8883 --username ci`,
		Flags: connectFlags(&opts.Conn),
		Action: runWithoutArgs("logout", "", func(ctx context.Context) error {
			return logoutRun(sys, opts)
		}),
	}
}

func logoutRun(sys *System, opts *logoutOptions) error {
	u, err := opts.Conn.account(sys, "logout")
	if err != nil {
		return err
	}
	err = sys.keyStore().DeletePassword(u.Broker, u.Username)
	if errors.Is(err, keys.ErrNotFound) {
		return fmt.Errorf("logout: no password stored for %s on %s", u.Username, u.Broker)
	}
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	fmt.Fprintf(sys.Stderr, "logged out: %s on %s\n", u.Username, u.Broker)
	return nil
}
