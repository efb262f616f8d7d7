// Package commands is otactl's command line: one file per command group,
// each with an options struct, a constructor that binds flags into it and a
// run function that does the work.
package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// Main runs otactl with args and returns the process exit code.
func Main(ctx context.Context, args []string, sys *System) int {
	sys = sys.withContext(ctx)
	app := newApp(sys)
	err := app.RunContext(ctx, interspersed(app, args))
	if err == nil {
		return ExitOK
	}
	if strings.HasPrefix(err.Error(), "Required flag") {
		// urfave/cli's own error for a missing Required flag (its type is
		// unexported) is a usage error.
		err = usageErrorf("%s\nhint: see 'otactl %s --help'", lowerFirst(err.Error()), commandPath(args))
	}
	code := exitCode(ctx, err)
	if code == ExitInterrupted {
		if !errors.Is(err, context.Canceled) {
			// What the interruption left behind, if the command says.
			printError(sys.Stderr, err)
		}
		fmt.Fprintln(sys.Stderr, "interrupted")
		return code
	}
	printError(sys.Stderr, err)
	return code
}

func printError(w io.Writer, err error) {
	msg := err.Error()
	if msg != "" {
		fmt.Fprintln(w, msg)
	}
	if hint := hintOf(err); hint != "" {
		for _, line := range strings.Split(hint, "\n") {
			fmt.Fprintln(w, "hint: "+line)
		}
	}
}

func newApp(sys *System) *cli.App {
	app := &cli.App{
		Name:        "otactl",
		Usage:       "release over-the-air firmware updates to device fleets over MQTT",
		Version:     versionString(),
		HideVersion: true,
		// A component spec may hold commas ("-c m@1=a.bin,type=modem"):
		// repeat a flag to give several values.
		DisableSliceFlagSeparator: true,
		Reader:                    sys.Stdin,
		Writer:                    sys.Stdout,
		ErrWriter:                 sys.Stderr,
		// The library must neither exit nor lose a wrapped exit code: Main
		// maps errors to codes.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageErrorf("%s\nhint: run 'otactl --help'", lowerFirst(err.Error()))
		},
		CommandNotFound: func(c *cli.Context, name string) {
			// urfave/cli gives no way to return an error from here; the
			// action below reports it.
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageErrorf("unknown command %q\nhint: run 'otactl --help' for the list of commands", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands: commandList(sys),
	}
	setUsageErrorHandlers(app.Commands)
	return app
}

// commandList is every top-level command, in the order help shows them.
func commandList(sys *System) []*cli.Command {
	return []*cli.Command{
		newReleaseCommand(sys),
		newKeyCommand(sys),
		newUploadCommand(sys),
		newArtifactCommand(sys),
		newLoginCommand(sys),
		newLogoutCommand(sys),
		newConfigCommand(sys),
		newCompletionCommand(sys),
		newBrokerCommand(sys),
		newSimulateCommand(sys),
		newDemoCommand(sys),
		newWatchCommand(sys),
		newRolloutCommand(sys),
		newVersionCommand(sys),
		newCompleteCommand(sys),
	}
}

// setUsageErrorHandlers makes flag errors of every command exit 2.
func setUsageErrorHandlers(cmds []*cli.Command) {
	for _, cmd := range cmds {
		name := cmd.Name
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return usageErrorf("%s: %s\nhint: run 'otactl %s --help'", name, lowerFirst(err.Error()), name)
		}
		setUsageErrorHandlers(cmd.Subcommands)
	}
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// commandPath is the command words of args: "release create".
func commandPath(args []string) string {
	var words []string
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	if len(words) > 2 {
		words = words[:2]
	}
	return strings.Join(words, " ")
}
