package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/output"
)

type keyListOptions struct {
	Output string
}

func newKeyListCommand(sys *System) *cli.Command {
	opts := &keyListOptions{}
	return &cli.Command{
		Name:      "list",
		Aliases:   []string{"ls"},
		Usage:     "list the signing keys in the OS keyring",
		UsageText: "otactl key list [-o json]",
		Description: `Example:
   $ otactl key list
   NAME          ALGORITHM   KEY ID
   release-key   ed25519     3f1c0a9b27d4e815`,
		Flags: []cli.Flag{outputFlag(&opts.Output)},
		Action: runWithoutArgs("key list", "", func(ctx context.Context) error {
			return keyListRun(sys, opts)
		}),
	}
}

func keyListRun(sys *System, opts *keyListOptions) error {
	infos, err := sys.keyStore().List()
	if err != nil {
		return fmt.Errorf("key list: %w", err)
	}
	if opts.Output == "json" {
		if infos == nil {
			infos = []keys.Info{}
		}
		return writeJSON(sys.Stdout, infos)
	}
	if len(infos) == 0 {
		fmt.Fprintln(sys.Stderr, "no keys in the OS keyring\nhint: otactl key generate NAME")
		return nil
	}
	t := output.Table{Header: []string{"NAME", "ALGORITHM", "KEY ID"}}
	for _, in := range infos {
		t.Rows = append(t.Rows, []string{in.Name, in.Alg, in.KeyID})
	}
	return t.Write(sys.Stdout, sys.StdoutTTY)
}
