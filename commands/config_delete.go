package commands

import (
	"fmt"

	"github.com/urfave/cli/v2"
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
