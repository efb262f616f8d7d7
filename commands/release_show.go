package commands

import (
	"context"
	"encoding/json"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/release"
)

type releaseShowOptions struct {
	File   string
	Output string
}

func newReleaseShowCommand(sys *System) *cli.Command {
	opts := &releaseShowOptions{}
	return &cli.Command{
		Name:      "show",
		Usage:     "print a readable summary of a manifest",
		UsageText: "otactl release show MANIFEST [-o json]",
		Description: `Prints the sequence number (and the time it encodes), the digest, the expiry,
the components with sizes and the signatures with key ids. MANIFEST may be
JSON or CBOR, or "-" for standard input. With -o json prints the manifest,
as JSON, under "manifest" (docs/json.md).

Example:
   $ otactl release show release.json
   $ otactl release show release.json -o json | jq .manifest.components`,
		Flags: []cli.Flag{outputFlag(&opts.Output)},
		Action: runWithArgs(1, "release show", "expected one MANIFEST argument", "", func(_ context.Context, args []string) error {
			opts.File = args[0]
			return releaseShowRun(sys, opts)
		}),
	}
}

func releaseShowRun(sys *System, opts *releaseShowOptions) error {
	m, err := loadManifest(sys, opts.File)
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		data, err := release.EncodeJSON(m)
		if err != nil {
			return err
		}
		return writeJSON(sys.Stdout, "release-show", map[string]any{"manifest": json.RawMessage(data)})
	}
	return output.WriteManifest(sys.Stdout, m, sys.Now(), sys.StdoutTTY, tableWidth(sys))
}
