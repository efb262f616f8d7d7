package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/keys"
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
	return listing[keys.Info]{
		Empty:  "no keys in the OS keyring\nhint: otactl key generate NAME",
		Header: []string{"NAME", "ALGORITHM", "KEY ID"},
		Row:    func(in keys.Info) []string { return []string{in.Name, in.Alg, in.KeyID} },
	}.write(sys, opts.Output, infos)
}
