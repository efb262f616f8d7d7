package completions

import (
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func testTree() ([]*cli.Command, []cli.Flag) {
	create := &cli.Command{Name: "create", Usage: "write a manifest", Flags: []cli.Flag{
		&cli.StringSliceFlag{Name: "sign", Usage: "sign with `KEYREF` (repeatable)"},
		&cli.StringFlag{Name: "out"},
		&cli.BoolFlag{Name: "allow-version-mismatch"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}},
	}}
	show := &cli.Command{Name: "show"}
	cmds := []*cli.Command{
		{Name: "release", Subcommands: []*cli.Command{create, show}},
		{Name: "key", Subcommands: []*cli.Command{{Name: "generate"}, {Name: "list", Aliases: []string{"ls"}}, {Name: "export"}}},
		{Name: "__complete", Hidden: true},
	}
	return cmds, []cli.Flag{&cli.BoolFlag{Name: "verbose"}}
}

func TestComplete(t *testing.T) {
	cmds, flags := testTree()
	values := Values{
		"sign": func(cur string) []string {
			if strings.HasPrefix(cur, "file:") {
				return []string{FilesAfter("file:")}
			}
			return []string{Described("file:", "a PEM file"), "env:", "release-key"}
		},
		"output": func(string) []string { return []string{"text", "json"} },
		"out":    func(string) []string { return []string{FilesDirective, Described("-", "standard output")} },
	}
	args := Args{"key export": func(string) []string { return []string{"release-key", "backup-key"} }}
	tests := []struct {
		words []string
		want  []string
	}{
		{[]string{""}, []string{"release", "key"}},
		{[]string{"re"}, []string{"release"}},
		{[]string{"release", ""}, []string{"create\twrite a manifest", "show"}},
		{[]string{"release", "create", "--s"}, []string{"--sign\tsign with KEYREF"}},
		{[]string{"release", "create", "--"}, []string{"--allow-version-mismatch", "--help\tshow help", "--out", "--output", "--sign\tsign with KEYREF"}},
		{[]string{"release", "create", "--sign", ""}, []string{"file:\ta PEM file", "env:", "release-key"}},
		{[]string{"release", "create", "--sign", "rel"}, []string{"release-key"}},
		{[]string{"release", "create", "--sign", "file:bu"}, []string{":files=file:"}},
		{[]string{"release", "create", "--sign=rel"}, []string{"--sign=release-key"}},
		{[]string{"release", "create", "-o", "j"}, []string{"json"}},
		// Files, and values besides.
		{[]string{"release", "create", "--out", ""}, []string{FilesDirective, "-\tstandard output"}},
		{[]string{"release", "create", "--out", "b"}, []string{FilesDirective}},
		// A flag's value is not mistaken for a command.
		{[]string{"release", "create", "--out", "key", "--sign", "e"}, []string{"env:"}},
		// A bool flag takes no value: the next word is a command again.
		{[]string{"--verbose", "k"}, []string{"key"}},
		// Flags without a completer and commands without subcommands complete files.
		{[]string{"release", "create", "--output=", ""}, []string{FilesDirective}},
		{[]string{"release", "show", ""}, []string{FilesDirective}},
		{[]string{"key", "l"}, []string{"list"}},
		// A command's arguments.
		{[]string{"key", "export", "b"}, []string{"backup-key"}},
	}
	for _, tt := range tests {
		got := Complete(cmds, flags, tt.words, values, args)
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
