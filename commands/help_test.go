package commands

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

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

// TestTablesFitTheTerminal: release show on an 80-column terminal fits
// its tables, hashes cut with an ellipsis; piped, it prints them whole.
func TestTablesFitTheTerminal(t *testing.T) {
	e := newPubEnv(t)
	app := e.file("a-rather-long-firmware-image-name.bin", pubRandom(5000))
	m := e.manifest("r.json", 1000, "", "sensor-hub-main@1.2.3-rc.1="+app)
	for _, tty := range []bool{true, false} {
		var out, errb bytes.Buffer
		sys := &System{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, StdoutTTY: tty,
			Now: func() time.Time { return e.now }, Getenv: func(k string) string { return map[string]string{"COLUMNS": "80"}[k] }}
		if code := runMain(context.Background(), []string{"otactl", "release", "show", m}, sys); code != 0 {
			t.Fatalf("release show: exit %d\n%s", code, errb.String())
		}
		long := 0
		for _, line := range strings.Split(out.String(), "\n") {
			if ansi.StringWidth(line) > 80 {
				long++
			}
		}
		if tty && (long > 0 || !strings.Contains(out.String(), "…")) {
			t.Errorf("on a terminal: %d lines over 80 columns, or no hash cut:\n%s", long, out.String())
		}
		if !tty && (long == 0 || strings.Contains(out.String(), "…")) {
			t.Errorf("piped: the table was cut:\n%s", out.String())
		}
	}
}

// TestListAndDeleteAliases: every list command answers to ls, every
// delete command to rm, as key's always did.
func TestListAndDeleteAliases(t *testing.T) {
	want := map[string]string{"list": "ls", "delete": "rm"}
	var walk func(path string, cmds []*cli.Command)
	n := 0
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			if alias, ok := want[c.Name]; ok {
				n++
				if !slices.Contains(c.Aliases, alias) {
					t.Errorf("%s %s has no alias %s", path, c.Name, alias)
				}
			}
			walk(path+" "+c.Name, c.Subcommands)
		}
	}
	walk("otactl", newApp(&System{Getenv: func(string) string { return "" }}).Commands)
	if n < 6 {
		t.Errorf("only %d list and delete commands found", n)
	}
}
