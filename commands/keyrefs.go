package commands

import (
	"crypto"
	"errors"
	"fmt"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/profile"
)

// signingOptions are the signing key flags of a command that signs:
// the key references, and the public key of an exec: signer among them.
type signingOptions struct {
	// Flag is the flag the references come from ("--sign", "--key").
	Flag         string
	Refs         []string
	SignerPubkey string
}

// signerPubkeyFlag is --signer-pubkey, beside --sign or --key.
func signerPubkeyFlag(dest *string) cli.Flag {
	return &cli.StringFlag{Name: "signer-pubkey", Destination: dest,
		Usage: "public key `KEYREF` of the exec: signer: its key id goes in the manifest and its signature is checked against it (env OTACTL_SIGNER_PUBKEY, profile setting signer-pubkey)"}
}

// resolve resolves the key references. Errors name the flag; keys shows a
// reference only when it is well-formed, never key material. The profile
// p (nil: the active one) gives signer-pubkey when an exec: signer has
// neither --signer-pubkey nor OTACTL_SIGNER_PUBKEY.
func (o *signingOptions) resolve(sys *System, p *profile.Profile) ([]crypto.Signer, error) {
	getenv, err := o.signerEnv(sys, p)
	if err != nil {
		return nil, err
	}
	if getenv, err = keyEnv(getenv, p, o.Refs); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Flag, err)
	}
	var signers []crypto.Signer
	for _, ref := range o.Refs {
		s, err := keys.ResolveSigner(ref, sys.keyStore(), getenv)
		if err != nil {
			return nil, keyRefError(o.Flag, true, err)
		}
		if e, ok := s.(*keys.ExecSigner); ok {
			e.Stderr = sys.Stderr
		}
		signers = append(signers, s)
	}
	return signers, nil
}

// signerEnv is the environment the key references are resolved in (then
// keyEnv's, for pkcs11: references): with
// an exec: signer, OTACTL_SIGNER_PUBKEY is --signer-pubkey, else the
// variable, else the profile's signer-pubkey. One exec: signer at most:
// there is one --signer-pubkey.
func (o *signingOptions) signerEnv(sys *System, p *profile.Profile) (func(string) string, error) {
	n := 0
	for _, ref := range o.Refs {
		if keys.IsExecRef(ref) {
			n++
		}
	}
	switch {
	case n == 0 && o.SignerPubkey != "":
		return nil, usageErrorf("--signer-pubkey is the public key of an exec: signer, and %s names none", o.Flag)
	case n == 0:
		return sys.Getenv, nil
	case n > 1:
		return nil, usageErrorf("%s: one exec: signer at a time (there is one --signer-pubkey): sign again with 'otactl release sign' for another", o.Flag)
	}
	ref, err := profile.SignerPubkey(o.SignerPubkey, sys.Getenv, p)
	if err != nil {
		return nil, err
	}
	if ref == "" {
		return nil, withHint(usageErrorf("%s: the exec: signer needs its public key: --signer-pubkey KEYREF", o.Flag),
			"give it once with --signer-pubkey FILE, OTACTL_SIGNER_PUBKEY or 'otactl config set signer-pubkey FILE': its key id goes in the manifest and every signature is checked against it")
	}
	return func(k string) string {
		if k == keys.EnvSignerPubkey {
			return ref
		}
		return sys.Getenv(k)
	}, nil
}

// resolvePublicKeys resolves the --pubkey references (given or from the
// profile), naming the flag in errors as signingOptions.resolve does.
func resolvePublicKeys(sys *System, refs []string) ([]crypto.PublicKey, error) {
	return resolvePublicKeysIn(sys, nil, refs)
}

// resolvePublicKeysIn is resolvePublicKeys for a command with --profile:
// p's pkcs11-module is the module of pkcs11: references.
func resolvePublicKeysIn(sys *System, p *profile.Profile, refs []string) ([]crypto.PublicKey, error) {
	return resolvePublicKeysFlag(sys, p, "--pubkey", refs)
}

// resolvePublicKeysFlag is resolvePublicKeysIn for the references given
// with flag, which errors name.
func resolvePublicKeysFlag(sys *System, p *profile.Profile, flag string, refs []string) ([]crypto.PublicKey, error) {
	return resolvePublicKeysFrom(sys, p, flag, true, refs)
}

// resolvePublicKeysFrom is resolvePublicKeysFlag for references given
// with flag (given) or taken from the profile in its stead.
func resolvePublicKeysFrom(sys *System, p *profile.Profile, flag string, given bool, refs []string) ([]crypto.PublicKey, error) {
	getenv, err := keyEnv(sys.Getenv, p, refs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	var pubs []crypto.PublicKey
	for _, ref := range refs {
		pub, err := keys.ResolvePublicEnv(ref, sys.keyStore(), getenv)
		if err != nil {
			return nil, keyRefError(flag, given, err)
		}
		pubs = append(pubs, pub)
	}
	return pubs, nil
}

// keyRefError names flag (or the command, for an argument) in err, a key
// reference that did not resolve: a reference of the wrong form
// (keys.RefError) given on the command line is a usage error; one from
// the profile, or a key that is not there, is not.
func keyRefError(flag string, given bool, err error) error {
	var re *keys.RefError
	if given && errors.As(err, &re) {
		return usageErrorf("%s: %w", flag, err)
	}
	return fmt.Errorf("%s: %w", flag, err)
}

// keyEnv is the environment key references read: getenv, where a pkcs11:
// reference among refs finds the module of the pkcs11-module setting of p
// (nil: the active profile) when OTACTL_PKCS11_MODULE is not set.
func keyEnv(getenv func(string) string, p *profile.Profile, refs []string) (func(string) string, error) {
	if !slices.ContainsFunc(refs, keys.IsPKCS11) {
		return getenv, nil
	}
	module, err := profile.PKCS11Module("", getenv, p)
	if err != nil {
		return nil, err
	}
	return func(name string) string {
		if name == keys.PKCS11ModuleEnv {
			return module
		}
		return getenv(name)
	}, nil
}
