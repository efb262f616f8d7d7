package commands

import (
	"fmt"

	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/profile"
)

func configGetRun(sys *System, opts *configOptions, key string) error {
	path, name, p, err := profile.LoadActive(sys.Getenv, opts.Profile)
	if err != nil {
		return err
	}
	if key != "" {
		v, set, err := p.Get(key)
		if err != nil {
			return usageErrorf("config get: %v", err)
		}
		if !set {
			return fmt.Errorf("profile %s: %s is not set", name, key)
		}
		if opts.Output == "json" {
			return writeJSON(sys.Stdout, "config-get", map[string]string{"profile": name, "key": key, "value": v})
		}
		fmt.Fprintln(sys.Stdout, v)
		return nil
	}
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, "config-get", map[string]any{"profile": name, "path": path, "settings": settingsJSON(p)})
	}
	t := output.Table{Header: []string{"KEY", "VALUE"}}
	for _, kv := range p.Settings() {
		t.Rows = append(t.Rows, []string{kv[0], kv[1]})
	}
	return t.Write(sys.Stdout, sys.StdoutTTY)
}
