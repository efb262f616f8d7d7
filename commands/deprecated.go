package commands

import (
	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/internal/clihelp"
)

// Old spellings of flags keep working for a release as hidden flags that
// set what the new flag sets and say, on standard error, what to use
// instead. docs/deprecations.md lists them.

// packageFlags are --package, and -p, its old short name: -p is --pubkey.
func packageFlags(usage, value string, dest *string) []cli.Flag {
	f := &cli.StringFlag{Name: "package", Usage: usage, Value: value, Destination: dest}
	return []cli.Flag{f, clihelp.Deprecated("p", f)}
}
