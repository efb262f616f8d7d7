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
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/keys"
)

// Main runs otactl with args and returns the process exit code.
func Main(ctx context.Context, args []string, sys *System) int {
	sys = sys.withContext(ctx)
	app := newApp(sys)
	err := app.RunContext(ctx, interspersed(app, args))
	if err == nil {
		err = usageResult(app)
	}
	if err == nil {
		err = sys.lostOutput()
	}
	if err == nil {
		return ExitOK
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

// printError prints err and its hint, with anything that looks like key
// material redacted (keys.Redact): a last guard, should a message ever
// quote a secret pasted in the wrong place.
func printError(w io.Writer, err error) {
	msg := keys.Redact(err.Error())
	if msg != "" {
		fmt.Fprintln(w, msg)
	}
	if h := hint.Of(err); h != "" {
		for _, line := range strings.Split(keys.Redact(h), "\n") {
			fmt.Fprintln(w, "hint: "+line)
		}
	}
}

func newApp(sys *System) *cli.App {
	app := &cli.App{
		Name:    "otactl",
		Usage:   "release over-the-air firmware updates to device fleets over MQTT",
		Version: versionString(),
		// A component spec may hold commas ("-c m@1=a.bin,type=modem"):
		// repeat a flag to give several values.
		DisableSliceFlagSeparator: true,
		Reader:                    sys.Stdin,
		Writer:                    sys.Stdout,
		ErrWriter:                 sys.Stderr,
		// The library must neither exit nor lose a wrapped exit code: Main
		// maps errors to codes.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands:       commandList(sys),
	}
	// Unknown commands and flags at every level: see wireUsage, which sets
	// the app's Action, OnUsageError and CommandNotFound.
	wireUsage(app)
	// --version prints what 'otactl version' prints; no -v, which other
	// tools use for verbose. (urfave/cli keeps both in package variables.)
	// Set once: apps built concurrently in one process (tests) must not
	// race on them.
	versionOnce.Do(func() {
		cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version, commit and build date"}
		cli.VersionPrinter = func(c *cli.Context) { fmt.Fprintln(c.App.Writer, buildOf().String()) }
	})
	wireHelp(sys)
	return app
}

var versionOnce sync.Once

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
		newDoctorCommand(sys),
		newSimulateCommand(sys),
		newDemoCommand(sys),
		newWatchCommand(sys),
		newRolloutCommand(sys),
		newVersionCommand(sys),
		newCompleteCommand(sys),
	}
}
