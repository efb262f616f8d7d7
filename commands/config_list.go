package commands

import (
	"encoding/json"
	"fmt"
	"strings"

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
		return writeJSON(sys.Stdout, "config-list", map[string]any{"path": path, "active": active, "profiles": profilesJSON(f.Profiles)})
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

// profilesJSON is each profile's settingsJSON, by name.
func profilesJSON(ps map[string]*profile.Profile) map[string]map[string]any {
	out := make(map[string]map[string]any, len(ps))
	for name, p := range ps {
		out[name] = settingsJSON(p)
	}
	return out
}

// settingsJSON is a profile's settings as JSON output names them: the
// config file's keys in camelCase (max-payload is maxPayload), as every
// key of otactl's JSON output (docs/json.md). The file keeps its own.
func settingsJSON(p *profile.Profile) map[string]any {
	out := map[string]any{}
	if p == nil {
		return out
	}
	b, err := json.Marshal(p)
	if err != nil {
		return out
	}
	var file map[string]any
	if json.Unmarshal(b, &file) != nil {
		return out
	}
	for k, v := range file {
		out[camelCase(k)] = v
	}
	return out
}

// camelCase turns a kebab-case key into camelCase: ca-file is caFile.
func camelCase(k string) string {
	parts := strings.Split(k, "-")
	for i := 1; i < len(parts); i++ {
		if p := parts[i]; p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}
