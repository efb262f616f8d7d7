package profile

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/otactl/otactl/keys"
)

// Encodings of the desired manifest (the encoding setting).
const (
	EncodingJSON = "json"
	EncodingCBOR = "cbor"
)

func checkEncoding(v string) error {
	if v != EncodingJSON && v != EncodingCBOR {
		return errors.New("want json (the seed's format, and the Golioth SDK up to v0.7.0) or cbor (the current Golioth SDK)")
	}
	return nil
}

// Encoding picks the desired manifest's encoding for a publish: flag when
// given (not ""), else OTACTL_ENCODING, else the profile's encoding, else
// json. A bad value from the environment is an error naming the variable;
// the flag is the command's to check.
func Encoding(flag string, getenv func(string) string, p *Profile) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if v := getenv("OTACTL_ENCODING"); v != "" {
		if err := checkEncoding(v); err != nil {
			return "", fmt.Errorf("OTACTL_ENCODING %q: %w", v, err)
		}
		return v, nil
	}
	if p != nil && p.Encoding != "" {
		return p.Encoding, nil
	}
	return EncodingJSON, nil
}

// Strict picks strict mode: flag when --strict was given (nil when not),
// else OTACTL_STRICT, else the profile's strict setting. A nil p is the
// active profile (OTACTL_PROFILE, else the current one), read from the
// config file only when neither flag nor environment decides: for the
// commands that take no --profile.
func Strict(flag *bool, getenv func(string) string, p *Profile) (bool, error) {
	if flag != nil {
		return *flag, nil
	}
	if v := getenv("OTACTL_STRICT"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("OTACTL_STRICT %q: want true or false", v)
		}
		return b, nil
	}
	if p == nil {
		_, _, active, err := LoadActive(getenv, "")
		if err != nil {
			return false, err
		}
		p = active
	}
	return p.Strict, nil
}

// PKCS11Module picks the PKCS#11 module of token keys: flag when given,
// else OTACTL_PKCS11_MODULE, else the profile's pkcs11-module, else "".
// A nil p is the active profile, read only when needed, as for Strict.
func PKCS11Module(flag string, getenv func(string) string, p *Profile) (string, error) {
	return textSetting(flag, keys.PKCS11ModuleEnv, getenv, p, func(p *Profile) string { return p.PKCS11Module })
}

// SignerPubkey picks the exec: signer's public key reference: flag when
// given (not ""), else OTACTL_SIGNER_PUBKEY, else the profile's
// signer-pubkey. A nil p is the active profile, read only when neither
// flag nor environment decides. "" means none is given.
func SignerPubkey(flag string, getenv func(string) string, p *Profile) (string, error) {
	return textSetting(flag, "OTACTL_SIGNER_PUBKEY", getenv, p, func(p *Profile) string { return p.SignerPubkey })
}

// textSetting is a setting taken as it is: flag when given (not ""), else
// the environment variable env, else the profile's field. A nil p is the
// active profile, read only when neither flag nor environment decides.
func textSetting(flag, env string, getenv func(string) string, p *Profile, field func(*Profile) string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if v := getenv(env); v != "" {
		return v, nil
	}
	if p == nil {
		_, _, active, err := LoadActive(getenv, "")
		if err != nil {
			return "", err
		}
		p = active
	}
	return field(p), nil
}
