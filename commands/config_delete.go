package commands

import (
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
		Action: func(c *cli.Context) error {
			if err := wantArgs(c, 1, "config delete", "expected a profile NAME", ""); err != nil {
				return err
			}
			return profile.Delete(sys.Getenv, c.Args().First())
		},
	}
}
