// Package completions holds otactl's shell completion scripts and the
// completer they call: the scripts hand the words typed so far to
// `otactl __complete`, which answers with candidates, one per line.
package completions

import (
	"embed"
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// FilesDirective, alone on the first line of an answer, asks the shell to
// complete file names itself.
const FilesDirective = ":files"

//go:embed scripts/*
var scripts embed.FS

// Shells are the shells a script exists for.
var Shells = []string{"bash", "zsh", "fish", "powershell"}

// Script returns the completion script for shell.
func Script(shell string) ([]byte, error) {
	ext := map[string]string{"bash": "bash", "zsh": "zsh", "fish": "fish", "powershell": "ps1"}[shell]
	if ext == "" {
		return nil, fmt.Errorf("no completion script for shell %q: choose one of %s", shell, strings.Join(Shells, ", "))
	}
	return scripts.ReadFile("scripts/otactl." + ext)
}

// Values completes the value of a flag, by flag name (without dashes).
type Values map[string]func() []string

// Complete answers a completion request: words are the command-line words
// after the program name, the last being the (possibly empty) word under
// the cursor. It walks commands and flags of root and returns the candidates
// that start with that word, or FilesDirective.
func Complete(root []*cli.Command, rootFlags []cli.Flag, words []string, values Values) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur := words[len(words)-1]
	cmds, flags := root, rootFlags
	var pendingFlag string // a flag that waits for its value
	for _, w := range words[:len(words)-1] {
		if pendingFlag != "" {
			pendingFlag = ""
			continue
		}
		if strings.HasPrefix(w, "-") {
			if f := FindFlag(flags, w); f != nil && TakesValue(f) && !strings.Contains(w, "=") {
				pendingFlag = strings.TrimLeft(w, "-")
			}
			continue
		}
		if c := FindCommand(cmds, w); c != nil {
			cmds, flags = c.Subcommands, c.Flags
		}
	}
	if pendingFlag != "" {
		return filter(valuesFor(flags, pendingFlag, values), cur)
	}
	if strings.HasPrefix(cur, "-") {
		if name, val, ok := strings.Cut(cur, "="); ok {
			var out []string
			for _, v := range filter(valuesFor(flags, strings.TrimLeft(name, "-"), values), val) {
				if v != FilesDirective {
					out = append(out, name+"="+v)
				}
			}
			return out
		}
		var names []string
		for _, f := range flags {
			for _, n := range f.Names() {
				if len(n) > 1 {
					names = append(names, "--"+n)
				}
			}
		}
		names = append(names, "--help")
		sort.Strings(names)
		return filter(names, cur)
	}
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return []string{FilesDirective}
	}
	return filter(names, cur)
}

func valuesFor(flags []cli.Flag, name string, values Values) []string {
	f := FindFlag(flags, "--"+name)
	if f == nil {
		return nil
	}
	for _, n := range f.Names() {
		if fn, ok := values[n]; ok {
			return fn()
		}
	}
	return []string{FilesDirective}
}

// FindFlag returns the flag among flags that word ("--name", "-n" or
// "--name=value") names, or nil.
func FindFlag(flags []cli.Flag, word string) cli.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(word, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// TakesValue reports whether f reads the word after it as its value.
func TakesValue(f cli.Flag) bool {
	d, ok := f.(cli.DocGenerationFlag)
	return ok && d.TakesValue()
}

// FindCommand returns the command among cmds called name (or aliased so).
func FindCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func filter(cands []string, prefix string) []string {
	if len(cands) == 1 && cands[0] == FilesDirective {
		return cands
	}
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}
