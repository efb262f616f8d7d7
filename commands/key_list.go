package commands

import (
	"errors"
	"fmt"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/profile"
)

type keyListOptions struct {
	outputOptions
	PKCS11Module string
}

func keyListRun(sys *System, opts *keyListOptions) error {
	module, err := profile.PKCS11Module(opts.PKCS11Module, sys.Getenv, nil)
	if err != nil {
		return fmt.Errorf("key list: %w", err)
	}
	infos, err := sys.keyStore().List()
	if err != nil && (module == "" || !errors.Is(err, keys.ErrKeyringUnavailable)) {
		return fmt.Errorf("key list: %w", err)
	}
	if err != nil {
		// The token's keys are still worth listing on a machine without
		// a keyring (a CI runner with an HSM).
		fmt.Fprintf(sys.Stderr, "warning: key list: %v: listing the token keys only\n", err)
	}
	empty := "no keys in the OS keyring\nhint: otactl key generate NAME"
	if module != "" {
		tokenKeys, err := keys.ListPKCS11(module, sys.Getenv)
		if err != nil {
			return fmt.Errorf("key list: %w", err)
		}
		infos = append(infos, tokenKeys...)
		empty = "no keys in the OS keyring or on the PKCS#11 tokens"
	}
	return listing[keys.Info]{
		Schema: "key-list",
		Key:    "keys",
		Empty:  empty,
		Header: []string{"NAME", "ALGORITHM", "KEY ID"},
		Row:    func(in keys.Info) []string { return []string{in.Name, in.Alg, text.Dash(in.KeyID)} },
	}.write(sys, opts.Output, infos)
}
