package commands

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
	"github.com/urfave/cli/v2"
)

// helpPaths is the command path of every visible command, the app's
// ("") first.
func helpPaths(prefix []string, cmds []*cli.Command) [][]string {
	out := [][]string{}
	if len(prefix) == 0 {
		out = append(out, nil)
	}
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		path := append(append([]string{}, prefix...), c.Name)
		out = append(out, path)
		out = append(out, helpPaths(path, c.Subcommands)[0:]...)
	}
	return out
}

// TestHelpFitsTheWidth renders every help page at 80 columns (and at 60
// and 120) and fails on a longer line, counted in columns on screen, and
// on a flag whose default is said twice.
func TestHelpFitsTheWidth(t *testing.T) {
	paths := helpPaths(nil, newApp(&System{Getenv: func(string) string { return "" }}).Commands)
	if len(paths) < 40 {
		t.Fatalf("only %d help pages found", len(paths))
	}
	for _, width := range []string{"80", "60", "120"} {
		e := newPubEnv(t)
		e.env["COLUMNS"] = width
		for _, path := range paths {
			out := e.must(0, append(append([]string{}, path...), "--help")...)
			name := strings.Join(append([]string{"otactl"}, path...), " ")
			if !strings.Contains(out, "USAGE:") {
				t.Errorf("%s --help printed no usage:\n%s", name, out)
			}
			for _, line := range strings.Split(out, "\n") {
				if w := ansi.StringWidth(line); w > atoi(width) {
					t.Errorf("%s --help at %s columns: a line of %d: %q", name, width, w, line)
				}
				if strings.Count(line, "(default") > 1 {
					t.Errorf("%s --help says a default twice: %q", name, line)
				}
			}
			if strings.Contains(out, "(default: 0)") || strings.Contains(out, "(default: false)") {
				t.Errorf("%s --help prints an empty default:\n%s", name, out)
			}
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
