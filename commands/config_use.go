package commands

import (
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
		Action: func(c *cli.Context) error {
			if err := wantArgs(c, 1, "config use", "expected a profile NAME", ""); err != nil {
				return err
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
