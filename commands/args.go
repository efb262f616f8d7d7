package commands

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/completions"
)

// interspersed moves the flags of the command that args run in front of its
// positional arguments. urfave/cli/v2 stops reading flags at the first
// positional argument, but users write "otactl release verify release.json
// --pubkey key.pem" as naturally as the other order. A "--" ends flag
// reading, as usual, and "-" stays a positional argument (standard input).
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	cmds, flags := app.Commands, app.Flags
	i := 1
	// Walk down the command path; global flags may sit before it.
	for i < len(args) {
		a := args[i]
		if isFlagWord(a) {
			out = append(out, a)
			if f := completions.FindFlag(flags, a); f != nil && completions.TakesValue(f) && !strings.Contains(a, "=") && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			i++
			continue
		}
		c := completions.FindCommand(cmds, a)
		if c == nil {
			// An unknown command, or arguments of a command group: leave
			// them for urfave/cli to judge.
			return append(out, args[i:]...)
		}
		out = append(out, a)
		i++
		if c.SkipFlagParsing {
			return append(out, args[i:]...)
		}
		flags = c.Flags
		if len(c.Subcommands) == 0 {
			break
		}
		cmds = c.Subcommands
	}
	var flagWords, positional []string
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i:]...)
			break
		}
		if !isFlagWord(a) {
			positional = append(positional, a)
			continue
		}
		flagWords = append(flagWords, a)
		if f := completions.FindFlag(flags, a); f != nil && completions.TakesValue(f) && !strings.Contains(a, "=") && i+1 < len(args) {
			flagWords = append(flagWords, args[i+1])
			i++
		}
	}
	out = append(out, flagWords...)
	return append(out, positional...)
}

func isFlagWord(a string) bool { return len(a) > 1 && a[0] == '-' && a != "--" }
