package commands

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// Set at build time by the release build (see .goreleaser.yaml):
//
//	-ldflags "-X github.com/otactl/otactl/commands.version=v1.2.3
//	  -X github.com/otactl/otactl/commands.commit=abc123
//	  -X github.com/otactl/otactl/commands.date=2026-12-01T00:00:00Z"
//
// Without them the Go build info says what it knows: the module version
// for 'go install', the commit and its time for a build in a checkout.
var version, commit, date = "", "", ""

// build is what a binary knows of how it was built.
type build struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	// Modified says the checkout had uncommitted changes.
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
}

// buildOf is this binary's build: the -ldflags values, else the Go build
// info's, else "dev" and "unknown".
func buildOf() build {
	b := build{Version: version, Commit: commit, Date: date, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
			case s.Key == "vcs.time" && b.Date == "":
				b.Date = s.Value
			case s.Key == "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

func versionString() string { return buildOf().Version }

// String is the line 'otactl version' and 'otactl --version' print.
func (b build) String() string {
	c := b.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if b.Modified {
		c += ", modified"
	}
	return fmt.Sprintf("otactl %s (commit %s, built %s, %s %s/%s)", b.Version, c, b.Date, b.Go, b.OS, b.Arch)
}

func newVersionCommand(sys *System) *cli.Command {
	opts := &outputOptions{}
	return &cli.Command{
		Name:      "version",
		Usage:     "print otactl's version, commit and build date",
		UsageText: "otactl version [-o json]",
		Description: `Example:
   $ otactl version
   otactl v1.4.0 (commit 3ca7f7161e2b, built 2026-12-01T00:00:00Z, go1.26.8 linux/amd64)
   $ otactl --version
   $ otactl version -o json | jq -r .commit`,
		Flags: []cli.Flag{outputFlag(&opts.Output)},
		Action: func(c *cli.Context) error {
			return versionRun(sys, opts)
		},
	}
}

func versionRun(sys *System, opts *outputOptions) error {
	b := buildOf()
	if opts.Output == "json" {
		return writeJSON(sys.Stdout, "version", b)
	}
	_, err := fmt.Fprintln(sys.Stdout, b.String())
	return err
}
