package commands

import (
	"fmt"

	"github.com/otactl/otactl/keys"
)

func keyListRun(sys *System, opts *outputOptions) error {
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
