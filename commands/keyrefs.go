package commands

import (
	"crypto"
	"fmt"

	"github.com/otactl/otactl/keys"
)

// resolveSigners resolves the --sign key references. Errors name the flag;
// keys shows a reference only when it is well-formed, never key material.
func resolveSigners(sys *System, refs []string) ([]crypto.Signer, error) {
	return resolveSignersFlag(sys, "--sign", refs)
}

// resolveSignersFlag resolves the key references given with flag.
func resolveSignersFlag(sys *System, flag string, refs []string) ([]crypto.Signer, error) {
	var signers []crypto.Signer
	for _, ref := range refs {
		s, err := keys.ResolveSigner(ref, sys.keyStore(), sys.Getenv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		signers = append(signers, s)
	}
	return signers, nil
}

// resolvePublicKeys resolves the --pubkey references (given or from the
// profile), naming the flag in errors as resolveSigners does.
func resolvePublicKeys(sys *System, refs []string) ([]crypto.PublicKey, error) {
	var pubs []crypto.PublicKey
	for _, ref := range refs {
		p, err := keys.ResolvePublicEnv(ref, sys.keyStore(), sys.Getenv)
		if err != nil {
			return nil, fmt.Errorf("--pubkey: %w", err)
		}
		pubs = append(pubs, p)
	}
	return pubs, nil
}
