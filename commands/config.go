package commands

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/profile"
)

type configOptions struct {
	Profile string
	Output  string
}

func newConfigCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "manage connection profiles in the config file",
		Description: `Profiles live in config.json under the user's config folder
(~/.config/otactl/config.json on Linux; OTACTL_CONFIG names another file).
Each command takes a setting from its flag, else its environment variable
(OTACTL_BROKER, OTACTL_USERNAME, OTACTL_TOPIC_PREFIX), else the profile, else
the default. The profile is --profile, else OTACTL_PROFILE, else the one
chosen with 'config use', else "default", which always exists (with no
settings unless you set some). Settings: ` + strings.Join(profile.Keys, ", ") + `.

A broker given with --broker or OTACTL_BROKER replaces the profile's whole
connection: ` + strings.Join(profile.ConnectionKeys, ", ") + ` then come
only from flags and environment; the other settings still come from the
profile. Passwords are never kept here: see 'otactl login'.`,
		Subcommands: []*cli.Command{
			newConfigSetCommand(sys),
			newConfigGetCommand(sys),
			newConfigUnsetCommand(sys),
			newConfigListCommand(sys),
			newConfigUseCommand(sys),
			newConfigDeleteCommand(sys),
		},
	}
}

func profileFlag(dest *string) cli.Flag {
	return &cli.StringFlag{Name: "profile", Usage: "profile `NAME` (default: OTACTL_PROFILE, else the current one)", Destination: dest}
}

// loadProfileFile reads the config file (OTACTL_CONFIG, else the one in the
// user's config folder) and returns its path too.
func loadProfileFile(sys *System) (string, *profile.File, error) {
	path, err := profile.DefaultPath(sys.Getenv)
	if err != nil {
		return "", nil, err
	}
	f, err := profile.Load(path)
	if err != nil {
		return "", nil, err
	}
	return path, f, nil
}

// editProfile loads the file, applies fn to the chosen profile and saves.
func editProfile(sys *System, explicit string, create bool, fn func(name string, p *profile.Profile) error) (string, error) {
	path, f, err := loadProfileFile(sys)
	if err != nil {
		return "", err
	}
	if explicit == "" {
		explicit = sys.Getenv("OTACTL_PROFILE")
	}
	name := f.Active(explicit)
	p, ok := f.Profiles[name]
	if !ok {
		// "default" always exists, with no settings until some are set.
		if !create && name != profile.DefaultName {
			return "", fmt.Errorf("profile %q does not exist in %s", name, path)
		}
		if p, err = f.Ensure(name); err != nil {
			return "", usageErrorf("%v", err)
		}
	}
	if err := fn(name, p); err != nil {
		return "", err
	}
	return name, f.Save(path)
}

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
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 2 {
				return withHint(usageErrorf("config set: expected KEY and VALUE"), "otactl config set broker mqtts://broker.example:8883")
			}
			key, value := c.Args().Get(0), c.Args().Get(1)
			// A bad value on the command line is a usage error, as a bad
			// flag value is; the same value found in the file is exit 1.
			if err := refuseSecretSetting(key, value); err != nil {
				return withExitCode(ExitUsage, err)
			}
			name, err := editProfile(sys, opts.Profile, true, func(_ string, p *profile.Profile) error {
				if err := p.Set(key, value); err != nil {
					return usageErrorf("config set: %v", err)
				}
				if err := checkUploadSetting(key, value); err != nil {
					return usageErrorf("config set: %v", err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(sys.Stderr, "profile %s: %s set\n", name, key)
			return nil
		},
	}
}

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
			if c.Args().Len() != 1 {
				return usageErrorf("config unset: expected KEY")
			}
			_, err := editProfile(sys, opts.Profile, false, func(_ string, p *profile.Profile) error {
				if err := p.Unset(c.Args().First()); err != nil {
					return usageErrorf("config unset: %v", err)
				}
				return nil
			})
			return err
		},
	}
}

func newConfigGetCommand(sys *System) *cli.Command {
	opts := &configOptions{}
	return &cli.Command{
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
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			path, name, p, err := loadProfile(sys, opts.Profile)
			if err != nil {
				return err
			}
			if key := c.Args().First(); key != "" {
				v, set, err := p.Get(key)
				if err != nil {
					return usageErrorf("config get: %v", err)
				}
				if !set {
					return fmt.Errorf("profile %s: %s is not set", name, key)
				}
				if opts.Output == "json" {
					return writeJSON(sys.Stdout, map[string]string{"profile": name, "key": key, "value": v})
				}
				fmt.Fprintln(sys.Stdout, v)
				return nil
			}
			if opts.Output == "json" {
				return writeJSON(sys.Stdout, map[string]any{"profile": name, "path": path, "settings": p})
			}
			t := output.Table{Header: []string{"KEY", "VALUE"}}
			for _, kv := range p.Settings() {
				t.Rows = append(t.Rows, []string{kv[0], kv[1]})
			}
			return t.Write(sys.Stdout, sys.StdoutTTY)
		},
	}
}

func newConfigListCommand(sys *System) *cli.Command {
	opts := &configOptions{}
	return &cli.Command{
		Name:      "list",
		Usage:     "list the profiles, marking the one in use",
		UsageText: "otactl config list [-o json]",
		Description: `Example:
   $ otactl config list
   CURRENT  PROFILE  BROKER
   *        prod     mqtts://broker.example:8883
            staging  mqtt://staging.example`,
		Flags: []cli.Flag{outputFlag(&opts.Output)},
		Action: func(c *cli.Context) error {
			if err := checkOutput(opts.Output); err != nil {
				return err
			}
			path, f, err := loadProfileFile(sys)
			if err != nil {
				return err
			}
			active := f.Active(sys.Getenv("OTACTL_PROFILE"))
			empty := len(f.Profiles) == 0
			// "default" always exists: listed even without settings.
			if _, err := f.Ensure(profile.DefaultName); err != nil {
				return err
			}
			if opts.Output == "json" {
				return writeJSON(sys.Stdout, map[string]any{"path": path, "active": active, "profiles": f.Profiles})
			}
			t := output.Table{Header: []string{"CURRENT", "PROFILE", "BROKER"}}
			for _, n := range f.Names() {
				mark := ""
				if n == active {
					mark = "*"
				}
				t.Rows = append(t.Rows, []string{mark, n, text.Dash(f.Profiles[n].Broker)})
			}
			if empty {
				fmt.Fprintf(sys.Stderr, "no profiles in %s: create one with 'otactl config set broker URL --profile NAME'\n", path)
			}
			return t.Write(sys.Stdout, sys.StdoutTTY)
		},
	}
}

func newConfigUseCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:      "use",
		Usage:     "make a profile the one used by default",
		UsageText: "otactl config use NAME",
		Description: `Example:
   $ otactl config use prod`,
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErrorf("config use: expected a profile NAME")
			}
			name := c.Args().First()
			path, f, err := loadProfileFile(sys)
			if err != nil {
				return err
			}
			if _, ok := f.Get(name); !ok {
				return withHint(fmt.Errorf("profile %q does not exist in %s", name, path), "create it with 'otactl config set broker URL --profile "+name+"'")
			}
			f.Current = name
			if name == profile.DefaultName {
				f.Current = "" // the file's way to say "default"
			}
			if err := f.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(sys.Stderr, "using profile %s\n", name)
			return nil
		},
	}
}

func newConfigDeleteCommand(sys *System) *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete a profile",
		UsageText: "otactl config delete NAME",
		Description: `Example:
   $ otactl config delete staging`,
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usageErrorf("config delete: expected a profile NAME")
			}
			name := c.Args().First()
			path, f, err := loadProfileFile(sys)
			if err != nil {
				return err
			}
			if _, ok := f.Get(name); !ok {
				return fmt.Errorf("profile %q does not exist in %s", name, path)
			}
			// Deleting "default" clears its settings; it still exists.
			delete(f.Profiles, name)
			if f.Current == name {
				f.Current = ""
			}
			return f.Save(path)
		},
	}
}
