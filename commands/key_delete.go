package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"
)

func newKeyDeleteCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Aliases:   []string{"rm"},
		Usage:     "remove a signing key from the OS keyring",
		UsageText: "otactl key delete NAME",
		Description: `The key is gone for good: export its public part first if devices trust it.

Example:
   $ otactl key delete old-release-key`,
		Action: runWithArgs(1, "key delete", "expected one NAME", "", func(_ context.Context, args []string) error {
			name := args[0]
			if err := sys.keyStore().Delete(name); err != nil {
				return fmt.Errorf("key delete: %w", err)
			}
			fmt.Fprintf(sys.Stderr, "deleted key %q\n", name)
			return nil
		}),
	}
}
