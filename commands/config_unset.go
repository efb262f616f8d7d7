package commands

import (
	"context"

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
		Action: runWithArgs(1, "config unset", "expected KEY", "", func(_ context.Context, args []string) error {
			_, err := profile.Edit(sys.Getenv, opts.Profile, false, func(p *profile.Profile) error {
				if err := p.Unset(args[0]); err != nil {
					return usageErrorf("config unset: %v", err)
				}
				return nil
			})
			return err
		}),
	}
}
