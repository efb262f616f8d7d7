package completions

import (
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func testTree() ([]*cli.Command, []cli.Flag) {
	create := &cli.Command{Name: "create", Flags: []cli.Flag{
		&cli.StringSliceFlag{Name: "sign"},
		&cli.StringFlag{Name: "out"},
		&cli.BoolFlag{Name: "allow-version-mismatch"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}},
	}}
	show := &cli.Command{Name: "show"}
	cmds := []*cli.Command{
		{Name: "release", Subcommands: []*cli.Command{create, show}},
		{Name: "key", Subcommands: []*cli.Command{{Name: "generate"}, {Name: "list", Aliases: []string{"ls"}}}},
		{Name: "__complete", Hidden: true},
	}
	return cmds, []cli.Flag{&cli.BoolFlag{Name: "verbose"}}
}

func TestComplete(t *testing.T) {
	cmds, flags := testTree()
	values := Values{
		"sign":   func() []string { return []string{"file:", "env:", "release-key"} },
		"output": func() []string { return []string{"text", "json"} },
	}
	tests := []struct {
		words []string
		want  []string
	}{
		{[]string{""}, []string{"release", "key"}},
		{[]string{"re"}, []string{"release"}},
		{[]string{"release", ""}, []string{"create", "show"}},
		{[]string{"release", "create", "--s"}, []string{"--sign"}},
		{[]string{"release", "create", "--"}, []string{"--allow-version-mismatch", "--help", "--out", "--output", "--sign"}},
		{[]string{"release", "create", "--sign", ""}, []string{"file:", "env:", "release-key"}},
		{[]string{"release", "create", "--sign", "rel"}, []string{"release-key"}},
		{[]string{"release", "create", "--sign=rel"}, []string{"--sign=release-key"}},
		{[]string{"release", "create", "-o", "j"}, []string{"json"}},
		// A flag's value is not mistaken for a command.
		{[]string{"release", "create", "--out", "key", "--sign", "e"}, []string{"env:"}},
		// A bool flag takes no value: the next word is a command again.
		{[]string{"--verbose", "k"}, []string{"key"}},
		// Flags without a completer and commands without subcommands complete files.
		{[]string{"release", "create", "--out", ""}, []string{FilesDirective}},
		{[]string{"release", "show", ""}, []string{FilesDirective}},
		{[]string{"key", "l"}, []string{"list"}},
	}
	for _, tt := range tests {
		got := Complete(cmds, flags, tt.words, values)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Complete(%q) = %q, want %q", tt.words, got, tt.want)
		}
	}
}

func TestScripts(t *testing.T) {
	for _, sh := range Shells {
		s, err := Script(sh)
		if err != nil {
			t.Fatalf("%s: %v", sh, err)
		}
		if !strings.Contains(string(s), "otactl __complete") {
			t.Errorf("%s script does not call otactl __complete", sh)
		}
	}
	if _, err := Script("tcsh"); err == nil {
		t.Error("Script(tcsh) did not fail")
	}
}
