package commands

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/profile"
)

func newConfigCommand(sys *System) *cli.Command {
	return newGroup("config", "manage connection profiles in the config file", configDescription,
		newConfigSetCommand(sys),
		newConfigGetCommand(sys),
		newConfigUnsetCommand(sys),
		newConfigListCommand(sys),
		newConfigUseCommand(sys),
		newConfigDeleteCommand(sys),
	)
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
