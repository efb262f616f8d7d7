package commands

import (
	"context"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/completions"
	"github.com/otactl/otactl/release"
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

// artifactOptions are the options of a command on one artifact: its
// package and version, and the connection to the broker that holds it.
type artifactOptions struct {
	Conn    connectOptions
	Package string
	Version string
}

// runWithArtifact is the action of a command whose one argument is the
// artifact's PACKAGE@VERSION: it takes it into o and runs run.
func (o *artifactOptions) runWithArtifact(cmd, hint string, run func(ctx context.Context) error) cli.ActionFunc {
	return runWithArgs(1, cmd, "expected PACKAGE@VERSION", hint, func(ctx context.Context, args []string) error {
		if err := o.takeArtifact(cmd, args[0]); err != nil {
			return err
		}
		return run(ctx)
	})
}

// takeArtifact takes the artifact's PACKAGE@VERSION argument of the
// command cmd into o; a bad one is a usage error.
func (o *artifactOptions) takeArtifact(cmd, arg string) error {
	pkg, version, err := release.ParseArtifact(arg)
	if err != nil {
		return usageErrorf("%s: %v", cmd, err)
	}
	o.Package, o.Version = pkg, version
	return nil
}

// resolve resolves the connection settings and the artifact's topic.
func (o *artifactOptions) resolve(sys *System) (*connection, string, error) {
	cn, err := o.Conn.resolve(sys)
	if err != nil {
		return nil, "", err
	}
	topic, err := cn.topics().Component(o.Package, o.Version)
	return cn, topic, err
}

// stringsFlag makes f, a repeatable flag, collect its values in dest.
func stringsFlag(f *cli.StringSliceFlag, dest *[]string) *cli.StringSliceFlag {
	f.Action = func(_ *cli.Context, values []string) error {
		*dest = values
		return nil
	}
	return f
}

// newGroup is a command made of subcommands.
func newGroup(name, usage, description string, subcommands ...*cli.Command) *cli.Command {
	return &cli.Command{Name: name, Usage: usage, Description: description, Subcommands: subcommands}
}

// runWithArgs is the action of a command that takes exactly n positional
// arguments: it refuses another number of them with the usage error
// "cmd: want", with hint when not empty, and otherwise runs run with them.
func runWithArgs(n int, cmd, want, hint string, run func(ctx context.Context, args []string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Args().Len() != n {
			return withHint(usageErrorf("%s: %s", cmd, want), hint)
		}
		return run(c.Context, c.Args().Slice())
	}
}

// runWithManifest is the action of a command whose arguments are a
// MANIFEST and, optionally, artifact FILEs: it refuses a run without a
// MANIFEST (with hint) and otherwise runs run with them.
func runWithManifest(cmd, hint string, run func(ctx context.Context, manifest string, files []string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Args().Len() < 1 {
			return withHint(usageErrorf("%s: expected a MANIFEST argument", cmd), hint)
		}
		return run(c.Context, c.Args().First(), c.Args().Tail())
	}
}

// runWithoutArgs is the action of a command that takes no positional
// arguments: it refuses any, naming the command cmd, with hint when not
// empty (how to give what the user meant), and otherwise runs run.
func runWithoutArgs(cmd, hint string, run func(ctx context.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Args().Present() {
			return withHint(usageErrorf("%s: unexpected argument %q", cmd, c.Args().First()), hint)
		}
		return run(c.Context)
	}
}
