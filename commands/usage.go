package commands

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/text"
)

// usageState collects what urfave/cli reports only through callbacks that
// cannot return an error ("otactl help nosuch").
type usageState struct {
	err error
}

const usageMetaKey = "otactl-usage"

// wireUsage makes every misuse of the command tree a usage error (exit 2)
// that names the full command path: an unknown subcommand at any level, an
// unknown or malformed flag of any command, and "help" for an unknown topic.
// A group command (one with subcommands) takes no positional arguments, so
// its first argument, when not a subcommand, is an unknown command; given
// none, a group shows its help and exits 0.
func wireUsage(app *cli.App) {
	st := &usageState{}
	if app.Metadata == nil {
		app.Metadata = map[string]any{}
	}
	app.Metadata[usageMetaKey] = st
	paths := map[*cli.Command]string{}
	app.OnUsageError = flagErrorHandler(app.Name, func() []cli.Flag { return app.Flags })
	app.Action = groupAction(app.Name, nil, func(c *cli.Context) []*cli.Command { return c.App.Commands })
	app.CommandNotFound = func(c *cli.Context, name string) {
		path, cmds := app.Name, c.App.Commands
		if p, ok := paths[c.Command]; ok {
			path, cmds = p, c.Command.Subcommands
		}
		st.err = unknownCommand(path, name, cmds)
	}
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			cmd := cmd
			path := prefix + " " + cmd.Name
			paths[cmd] = path
			cmd.OnUsageError = flagErrorHandler(path, func() []cli.Flag { return cmd.Flags })
			if required := takeRequired(cmd.Flags); len(required) > 0 {
				cmd.Before = requireFlags(path, required, cmd.Before)
			}
			if len(cmd.Subcommands) > 0 {
				cmd.Action = groupAction(path, cmd.Action, func(c *cli.Context) []*cli.Command { return c.Command.Subcommands })
				walk(path, cmd.Subcommands)
			}
		}
	}
	walk(app.Name, app.Commands)
}

// takeRequired returns the names of the flags marked Required and takes
// the check over from urfave/cli, whose error for a missing flag is of a
// type it does not export: requireFlags makes it a usage error instead.
func takeRequired(flags []cli.Flag) [][]string {
	var names [][]string
	for _, f := range flags {
		if rf, ok := f.(cli.RequiredFlag); !ok || !rf.IsRequired() {
			continue
		}
		switch f := f.(type) {
		case *cli.StringFlag:
			f.Required = false
		case *cli.StringSliceFlag:
			f.Required = false
		case *cli.Int64Flag:
			f.Required = false
		default:
			panic(fmt.Sprintf("commands: a required flag of type %T: add it to takeRequired", f))
		}
		names = append(names, f.Names())
	}
	return names
}

// requireFlags is a Before function that refuses a run of the command at
// path without each of the required flags (any of its names, or its
// environment variable), as urfave/cli would: the command's help on
// standard output, and a usage error naming the flags.
func requireFlags(path string, required [][]string, before cli.BeforeFunc) cli.BeforeFunc {
	return func(c *cli.Context) error {
		var missing []string
		for _, names := range required {
			if !slices.ContainsFunc(names, c.IsSet) {
				missing = append(missing, names[0])
			}
		}
		if len(missing) > 0 {
			if help := c.App.Command("help"); help != nil {
				_ = help.Action(c)
			}
			what := fmt.Sprintf("required flag %q not set", missing[0])
			if len(missing) > 1 {
				what = fmt.Sprintf("required flags %q not set", strings.Join(missing, ", "))
			}
			return withHint(usageErrorf("%s", what), fmt.Sprintf("see '%s --help'", path))
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
}

// usageResult returns the usage error a callback recorded during a run.
func usageResult(app *cli.App) error {
	if st, ok := app.Metadata[usageMetaKey].(*usageState); ok {
		return st.err
	}
	return nil
}

// groupAction refuses an unknown subcommand of the group at path and, with
// no argument, runs the group's own action, else shows its help.
func groupAction(path string, own cli.ActionFunc, subs func(*cli.Context) []*cli.Command) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Args().Present() {
			return unknownCommand(path, c.Args().First(), subs(c))
		}
		if own != nil {
			return own(c)
		}
		if c.Command == nil || c.Command.Name == "" || path == c.App.Name {
			return cli.ShowAppHelp(c)
		}
		return cli.ShowSubcommandHelp(c)
	}
}

// unknownCommand is the usage error for a word that is no subcommand of the
// command at path, with the nearest visible subcommand as a suggestion.
func unknownCommand(path, word string, cmds []*cli.Command) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Names()...)
		}
	}
	err := usageErrorf("unknown command %s for %q", text.ShowWord(word), path)
	if s := text.Nearest(word, names); s != "" {
		return withHint(err, fmt.Sprintf("did you mean %q?\nrun '%s --help' for the list of commands", s, path))
	}
	return withHint(err, fmt.Sprintf("run '%s --help' for the list of commands", path))
}

// flagErrorHandler turns a flag parsing error of the command at path into a
// usage error that names the flag (never a value that could be a secret),
// suggests the nearest flag and names the command's help.
func flagErrorHandler(path string, flags func() []cli.Flag) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		return flagError(path, flags(), err)
	}
}

func flagError(path string, flags []cli.Flag, err error) error {
	help := fmt.Sprintf("run '%s --help'", path)
	where := path // "otactl release create" is "release create" in a message
	if _, rest, ok := strings.Cut(path, " "); ok {
		where = rest
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var names []string
		for _, f := range flags {
			names = append(names, f.Names()...)
		}
		names = append(names, "help")
		e := usageErrorf("unknown flag: %s", showFlag(name))
		if name != "" && name[0] >= '0' && name[0] <= '9' {
			// "config set timeout -5s": a negative number, not a flag.
			return withHint(e, "a value that starts with '-' is not a flag when '--' comes before the arguments\n"+help)
		}
		if s := text.Nearest(name, names); s != "" {
			return withHint(e, fmt.Sprintf("did you mean %s?\n%s", dashes(s), help))
		}
		return withHint(e, help)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return withHint(usageErrorf("%s: %s needs a value", where, showFlag(strings.TrimLeft(name, "-"))), help)
	}
	if strings.HasPrefix(msg, "bad flag syntax: ") {
		return withHint(usageErrorf("%s: bad flag syntax: %s", where, text.ShowWord(strings.TrimPrefix(msg, "bad flag syntax: "))), help)
	}
	// "invalid value "x" for flag -n: ...", and the like: the value may be
	// anything the user pasted, so it is shown only when it is a plain word.
	if name, value, ok := invalidValue(msg); ok {
		shown := `""`
		if value != "" {
			shown = text.ShowWord(value)
		}
		return withHint(usageErrorf("%s: %s: invalid value %s", where, dashes(name), shown), help)
	}
	if text.PlainText(msg) {
		return withHint(usageErrorf("%s: %s", where, text.LowerFirst(msg)), help)
	}
	return withHint(usageErrorf("%s: a flag could not be read (its value is not shown)", where), help)
}

// invalidValue picks the flag name and value out of the flag package's
// "invalid value %q for flag -%s: %v" and "invalid boolean value %q for -%s: %v".
func invalidValue(msg string) (name, value string, ok bool) {
	rest, ok := strings.CutPrefix(msg, "invalid value ")
	if !ok {
		if rest, ok = strings.CutPrefix(msg, "invalid boolean value "); !ok {
			return "", "", false
		}
	}
	i := strings.LastIndex(rest, " for ")
	if i < 0 {
		return "", "", false
	}
	quoted, tail := rest[:i], rest[i+len(" for "):]
	tail = strings.TrimPrefix(tail, "flag ")
	if !strings.HasPrefix(tail, "-") {
		return "", "", false
	}
	name, _, _ = strings.Cut(strings.TrimLeft(tail, "-"), ":")
	if !text.PlainWord(name) {
		return "", "", false
	}
	// The value is Go-quoted; its unquoted form is what the user typed.
	v, err := strconv.Unquote(quoted)
	if err != nil {
		v = quoted
	}
	return name, v, true
}

// showFlag writes a flag name the user typed with its dashes, or describes
// it when it is not a plain word.
func showFlag(name string) string {
	if text.PlainWord(name) {
		return dashes(name)
	}
	return fmt.Sprintf("(a %d-character flag, not shown)", len(name))
}

func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
