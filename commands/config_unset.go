package commands

import (
	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/profile"
)

func newConfigUnsetCommand(sys *System) *cli.Command {
	opts := &configOptions{}
	return &cli.Command{
		Name:      "unset",
		Usage:     "clear a profile setting",
		UsageText: "otactl config unset KEY [--profile NAME]",
		Description: `Example:
   $ otactl config unset topic-prefix --profile prod`,
		Flags: []cli.Flag{profileFlag(&opts.Profile)},
		Action: func(c *cli.Context) error {
			if err := wantArgs(c, 1, "config unset", "expected KEY", ""); err != nil {
				return err
			}
			_, err := profile.Edit(sys.Getenv, opts.Profile, false, func(p *profile.Profile) error {
				if err := p.Unset(c.Args().First()); err != nil {
					return usageErrorf("config unset: %v", err)
				}
				return nil
			})
			return err
		},
	}
}
