package profile

import (
	"errors"
	"fmt"
	"strconv"
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

// SignerPubkey picks the exec: signer's public key reference: flag when
// given (not ""), else OTACTL_SIGNER_PUBKEY, else the profile's
// signer-pubkey. A nil p is the active profile, read only when neither
// flag nor environment decides. "" means none is given.
func SignerPubkey(flag string, getenv func(string) string, p *Profile) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if v := getenv("OTACTL_SIGNER_PUBKEY"); v != "" {
		return v, nil
	}
	if p == nil {
		_, _, active, err := LoadActive(getenv, "")
		if err != nil {
			return "", err
		}
		p = active
	}
	return p.SignerPubkey, nil
}
