package commands

import (
	"fmt"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/profile"
)

func configListRun(sys *System, opts *configOptions) error {
	path, f, err := profile.LoadFile(sys.Getenv)
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
}
