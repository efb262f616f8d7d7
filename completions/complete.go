// Package completions holds otactl's shell completion scripts and the
// completer they call: the scripts hand the words typed so far to
// `otactl __complete`, which answers with candidates, one a line.
//
// The answer: an optional first line, a directive: ":files" (complete file
// names too) or ":files=PREFIX" (the word starts with PREFIX, as in
// file:PATH: complete file names after it, keeping it); then candidates,
// each "VALUE" or "VALUE<TAB>DESCRIPTION". Bash shows the values, zsh and
// fish the descriptions too.
package completions

import (
	"embed"
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// FilesDirective, alone or as the first line of an answer, asks the shell
// to complete file names too.
const FilesDirective = ":files"

// FilesAfter asks the shell to complete file names after prefix, keeping
// prefix: for file:PATH.
func FilesAfter(prefix string) string { return FilesDirective + "=" + prefix }

// Described is a candidate with its description, if any.
func Described(value, description string) string {
	if description == "" {
		return value
	}
	return value + "\t" + description
}

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

// Values completes the value of a flag, by flag name (without dashes),
// given the word typed so far.
type Values map[string]func(cur string) []string

// Args completes the arguments of a command, by its path ("key export"),
// given the word typed so far.
type Args map[string]func(cur string) []string

// Complete answers a completion request: words are the command-line words
// after the program name, the last being the (possibly empty) word under
// the cursor. It walks commands and flags of root and returns the
// candidates whose value starts with that word, a directive first.
func Complete(root []*cli.Command, rootFlags []cli.Flag, words []string, values Values, args Args) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur := words[len(words)-1]
	cmds, flags := root, rootFlags
	var path []string
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
			path = append(path, c.Name)
		}
	}
	if pendingFlag != "" {
		return filter(valuesFor(flags, pendingFlag, values, cur), cur)
	}
	if strings.HasPrefix(cur, "-") {
		if name, val, ok := strings.Cut(cur, "="); ok {
			var out []string
			for _, v := range filter(valuesFor(flags, strings.TrimLeft(name, "-"), values, val), val) {
				if !strings.HasPrefix(v, FilesDirective) {
					out = append(out, name+"="+v)
				}
			}
			return out
		}
		var names []string
		for _, f := range flags {
			for _, n := range f.Names() {
				if len(n) > 1 {
					names = append(names, Described("--"+n, usageOf(f)))
				}
			}
		}
		names = append(names, Described("--help", "show help"))
		sort.Strings(names)
		return filter(names, cur)
	}
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, Described(c.Name, c.Usage))
		}
	}
	if len(names) > 0 {
		return filter(names, cur)
	}
	if fn, ok := args[strings.Join(path, " ")]; ok {
		return filter(fn(cur), cur)
	}
	return []string{FilesDirective}
}

// usageOf is the first sentence of a flag's usage, without placeholders'
// backquotes: its description in a completion menu.
func usageOf(f cli.Flag) string {
	d, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return ""
	}
	u := strings.ReplaceAll(d.GetUsage(), "`", "")
	if i := strings.IndexAny(u, "(;:"); i > 0 {
		u = u[:i]
	}
	return strings.TrimSpace(u)
}

func valuesFor(flags []cli.Flag, name string, values Values, cur string) []string {
	f := FindFlag(flags, "--"+name)
	if f == nil {
		return nil
	}
	for _, n := range f.Names() {
		if fn, ok := values[n]; ok {
			return fn(cur)
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

// filter keeps the candidates whose value starts with prefix, and any
// directive, first.
func filter(cands []string, prefix string) []string {
	var directive, out []string
	for _, c := range cands {
		value, _, _ := strings.Cut(c, "\t")
		switch {
		case strings.HasPrefix(c, FilesDirective):
			directive = append(directive, c)
		case strings.HasPrefix(value, prefix):
			out = append(out, c)
		}
	}
	return append(directive[:min(len(directive), 1)], out...)
}
