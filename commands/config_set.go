package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/profile"
)

func newConfigSetCommand(sys *System) *cli.Command {
	opts := &configOptions{}
	return &cli.Command{
		Name:      "set",
		Usage:     "set a profile setting (creating the profile)",
		UsageText: "otactl config set KEY VALUE [--profile NAME]",
		Description: `Keys: ` + strings.Join(profile.Keys, ", ") + `. pubkey adds a trusted key
(repeat, or separate with commas); max-payload takes sizes like 128k or 16M.

Example:
   $ otactl config set broker mqtts://broker.example:8883 --profile prod
   $ otactl config set username ci --profile prod
   $ otactl config set max-payload 16M --profile prod
   $ otactl config set require-signatures true --profile prod
   $ otactl config set pubkey release-key.pub.pem --profile prod`,
		Flags: []cli.Flag{profileFlag(&opts.Profile)},
		Action: runWithArgs(2, "config set", "expected KEY and VALUE", "otactl config set broker mqtts://broker.example:8883", func(_ context.Context, args []string) error {
			key, value := args[0], args[1]
			// A bad value on the command line is a usage error, as a bad
			// flag value is; the same value found in the file is exit 1.
			if err := profile.RefuseSecret(key, value); err != nil {
				return withExitCode(ExitUsage, err)
			}
			name, err := profile.Edit(sys.Getenv, opts.Profile, true, func(p *profile.Profile) error {
				if err := p.Set(key, value); err != nil {
					return usageErrorf("config set: %v", err)
				}
				if err := profile.CheckUploadSetting(key, value); err != nil {
					return usageErrorf("config set: %v", err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(sys.Stderr, "profile %s: %s set\n", name, key)
			return nil
		}),
	}
}
