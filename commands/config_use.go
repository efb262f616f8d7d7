package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/profile"
)

func newConfigUseCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:      "use",
		Usage:     "make a profile the one used by default",
		UsageText: "otactl config use NAME",
		Description: `Example:
   $ otactl config use prod`,
		Action: runWithArgs(1, "config use", "expected a profile NAME", "", func(_ context.Context, args []string) error {
			name := args[0]
			if err := profile.Use(sys.Getenv, name); err != nil {
				return err
			}
			fmt.Fprintf(sys.Stderr, "using profile %s\n", name)
			return nil
		}),
	}
}
