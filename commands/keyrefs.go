package commands

import (
	"crypto"
	"fmt"
	"slices"

	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/profile"
)

// resolveSigners resolves the --sign key references. Errors name the flag;
// keys shows a reference only when it is well-formed, never key material.
func resolveSigners(sys *System, refs []string) ([]crypto.Signer, error) {
	return resolveSignersFlag(sys, "--sign", refs)
}

// resolveSignersFlag resolves the key references given with flag.
func resolveSignersFlag(sys *System, flag string, refs []string) ([]crypto.Signer, error) {
	return signersIn(sys, nil, flag, refs)
}

// resolveSignersIn is resolveSigners for a command with --profile: p's
// pkcs11-module is the module of pkcs11: references.
func resolveSignersIn(sys *System, p *profile.Profile, refs []string) ([]crypto.Signer, error) {
	return signersIn(sys, p, "--sign", refs)
}

// signersIn resolves refs given with flag; p is the profile (nil: the
// active one).
func signersIn(sys *System, p *profile.Profile, flag string, refs []string) ([]crypto.Signer, error) {
	getenv, err := keyEnv(sys, p, refs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	var signers []crypto.Signer
	for _, ref := range refs {
		s, err := keys.ResolveSigner(ref, sys.keyStore(), getenv)
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
	return resolvePublicKeysIn(sys, nil, refs)
}

// resolvePublicKeysIn is resolvePublicKeys for a command with --profile:
// p's pkcs11-module is the module of pkcs11: references.
func resolvePublicKeysIn(sys *System, p *profile.Profile, refs []string) ([]crypto.PublicKey, error) {
	getenv, err := keyEnv(sys, p, refs)
	if err != nil {
		return nil, fmt.Errorf("--pubkey: %w", err)
	}
	var pubs []crypto.PublicKey
	for _, ref := range refs {
		p, err := keys.ResolvePublicEnv(ref, sys.keyStore(), getenv)
		if err != nil {
			return nil, fmt.Errorf("--pubkey: %w", err)
		}
		pubs = append(pubs, p)
	}
	return pubs, nil
}

// keyEnv is the environment key references read: sys.Getenv, where a
// pkcs11: reference among refs finds the module of the pkcs11-module
// setting of p (nil: the active profile) when OTACTL_PKCS11_MODULE is not
// set.
func keyEnv(sys *System, p *profile.Profile, refs []string) (func(string) string, error) {
	if !slices.ContainsFunc(refs, keys.IsPKCS11) {
		return sys.Getenv, nil
	}
	module, err := profile.PKCS11Module("", sys.Getenv, p)
	if err != nil {
		return nil, err
	}
	return func(name string) string {
		if name == keys.PKCS11ModuleEnv {
			return module
		}
		return sys.Getenv(name)
	}, nil
}
