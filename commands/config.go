package commands

import (
	"context"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/profile"
)

// newConfigCommand is 'otactl config': a table of its verbs, which only
// take arguments, --profile and -o; each verb's run function has a file of
// its own (config_set.go...).
func newConfigCommand(sys *System) *cli.Command {
	opts := &configOptions{}
	return newGroup("config", "manage connection profiles in the config file", configDescription,
		&cli.Command{
			Name:      "set",
			Usage:     "set a profile setting (creating the profile)",
			UsageText: "otactl config set KEY VALUE [--profile NAME]",
			Description: `Keys: ` + strings.Join(profile.Keys, ", ") + `. pubkey adds a trusted key
(repeat, or separate with commas); max-payload and block-size take sizes like
128k or 16M;
verify-brokers adds the URLs of the other broker endpoints devices use (cluster
nodes, bridged edges; repeat, or separate with commas; no credentials in them):
upload and release publish, rollback and unpublish confirm each step on every
one (docs/publishing.md, "Several endpoints").

Example:
   $ otactl config set broker mqtts://broker.example:8883 --profile prod
   $ otactl config set username ci --profile prod
   $ otactl config set max-payload 16M --profile prod
   $ otactl config set require-signatures true --profile prod
   $ otactl config set pubkey release-key.pub.pem --profile prod
   $ otactl config set verify-brokers mqtts://edge-1.example:8883,mqtts://edge-2.example:8883 --profile prod`,
			Flags: []cli.Flag{profileFlag(&opts.Profile)},
			Action: runWithArgs(2, "config set", "expected KEY and VALUE", "otactl config set broker mqtts://broker.example:8883", func(_ context.Context, args []string) error {
				return configSetRun(sys, opts, args[0], args[1])
			}),
		},
		&cli.Command{
			Name:      "get",
			Usage:     "print one setting, or every setting, of a profile",
			UsageText: "otactl config get [KEY] [--profile NAME] [-o json]",
			Description: `Example:
   $ otactl config get broker --profile prod
   mqtts://broker.example:8883
   $ otactl config get --profile prod -o json`,
			Flags: []cli.Flag{profileFlag(&opts.Profile), outputFlag(&opts.Output)},
			Action: func(c *cli.Context) error {
				if c.Args().Len() > 1 {
					return usageErrorf("config get: expected at most one KEY")
				}
				return configGetRun(sys, opts, c.Args().First())
			},
		},
		&cli.Command{
			Name:      "unset",
			Usage:     "clear a profile setting",
			UsageText: "otactl config unset KEY [--profile NAME]",
			Description: `Example:
   $ otactl config unset topic-prefix --profile prod`,
			Flags: []cli.Flag{profileFlag(&opts.Profile)},
			Action: runWithArgs(1, "config unset", "expected KEY", "", func(_ context.Context, args []string) error {
				return configUnsetRun(sys, opts, args[0])
			}),
		},
		&cli.Command{
			Name:      "list",
			Aliases:   []string{"ls"},
			Usage:     "list the profiles, marking the one in use",
			UsageText: "otactl config list [-o json]",
			Description: `Example:
   $ otactl config list
   CURRENT  PROFILE  BROKER
   *        prod     mqtts://broker.example:8883
            staging  mqtt://staging.example`,
			Flags:  []cli.Flag{outputFlag(&opts.Output)},
			Action: func(*cli.Context) error { return configListRun(sys, opts) },
		},
		profileVerb{Name: "use", Usage: "make a profile the one used by default", Example: "prod", Run: configUseRun}.command(sys),
		profileVerb{Name: "delete", Aliases: []string{"rm"}, Usage: "delete a profile", Example: "staging", Run: configDeleteRun}.command(sys),
	)
}

// profileVerb is a config verb whose one argument is a profile NAME;
// Example is the NAME of its help's example.
type profileVerb struct {
	Name, Usage, Example string
	Aliases              []string
	Run                  func(sys *System, name string) error
}

func (v profileVerb) command(sys *System) *cli.Command {
	path := "config " + v.Name
	return &cli.Command{
		Name:        v.Name,
		Aliases:     v.Aliases,
		Usage:       v.Usage,
		UsageText:   "otactl " + path + " NAME",
		Description: "Example:\n   $ otactl " + path + " " + v.Example,
		Action: runWithArgs(1, path, "expected a profile NAME", "", func(_ context.Context, args []string) error {
			return v.Run(sys, args[0])
		}),
	}
}

// configOptions are the flags of the config verbs.
type configOptions struct {
	Profile string
	Output  string
}

func profileFlag(dest *string) cli.Flag {
	return &cli.StringFlag{Name: "profile", Usage: "profile `NAME` (default: OTACTL_PROFILE, else the current one)", Destination: dest}
}

var configDescription = `Profiles live in config.json under the user's config folder
(~/.config/otactl/config.json on Linux; OTACTL_CONFIG names another file).
Each command takes a setting from its flag, else its environment variable
(OTACTL_BROKER, OTACTL_USERNAME, OTACTL_TOPIC_PREFIX), else the profile, else
the default. The profile is --profile, else OTACTL_PROFILE, else the one
chosen with 'config use', else "default", which always exists (with no
settings unless you set some). Settings: ` + strings.Join(profile.Keys, ", ") + `.

A broker given with --broker or OTACTL_BROKER replaces the profile's whole
connection: ` + strings.Join(profile.ConnectionKeys, ", ") + ` then come
only from flags and environment; the other settings still come from the
profile. Passwords are never kept here: see 'otactl login'.`
