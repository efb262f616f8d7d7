package commands

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/profile"
)

func newConfigDeleteCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete a profile",
		UsageText: "otactl config delete NAME",
		Description: `Example:
   $ otactl config delete staging`,
		Action: runWithArgs(1, "config delete", "expected a profile NAME", "", func(_ context.Context, args []string) error {
			return profile.Delete(sys.Getenv, args[0])
		}),
	}
}
