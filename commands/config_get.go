package commands

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/profile"
)

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
			path, name, p, err := profile.LoadActive(sys.Getenv, opts.Profile)
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
