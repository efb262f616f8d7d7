package commands

import (
	"io"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/output"
)

// outputFlag is the -o/--output flag of every command that prints data. It
// refuses a format other than text or json before the command runs.
func outputFlag(dest *string) cli.Flag {
	return &cli.StringFlag{
		Name:        "output",
		Aliases:     []string{"o"},
		Usage:       "output format: text or json",
		Value:       "text",
		Destination: dest,
		Action:      func(_ *cli.Context, format string) error { return checkOutput(format) },
	}
}

func checkOutput(format string) error {
	switch format {
	case "text", "json":
		return nil
	}
	return usageErrorf("unknown output format %q: use text or json", format)
}

func writeJSON(w io.Writer, v any) error { return output.JSON(w, v) }
