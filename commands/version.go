package commands

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X github.com/otactl/otactl/commands.version=v1.2.3".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

func newVersionCommand(sys *System) *cli.Command {
	opts := &outputOptions{}
	return &cli.Command{
		Name:      "version",
		Usage:     "print otactl's version",
		UsageText: "otactl version [-o json]",
		Description: `Example:
   $ otactl version
   otactl dev (go1.26.8 linux/amd64)`,
		Flags: []cli.Flag{outputFlag(&opts.Output)},
		Action: func(c *cli.Context) error {
			return versionRun(sys, opts)
		},
	}
}

func versionRun(sys *System, opts *outputOptions) error {
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, map[string]string{
			"version": versionString(),
			"go":      runtime.Version(),
			"os":      runtime.GOOS,
			"arch":    runtime.GOARCH,
		})
	}
	_, err := fmt.Fprintf(sys.Stdout, "otactl %s (%s %s/%s)\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
