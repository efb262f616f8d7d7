package publish

import (
	"context"
	"crypto"
	"fmt"
	"time"

	"github.com/otactl/otactl/release"
)

// TrustSources are where trusted keys and the threshold can come from:
// the command line and the profile.
type TrustSources struct {
	Pubkeys   []string // --pubkey: PEM files or keyring names
	Threshold int      // --threshold; 0: not given

	Profile           string // the profile's name, for messages
	ProfilePubkeys    []string
	ProfileThreshold  int
	RequireSignatures bool
}

// TrustPolicy is who must have signed a release for it to be published or
// shown as verified.
type TrustPolicy struct {
	Keys []crypto.PublicKey
	// Threshold is how many distinct keys must have signed; 0 means 1
	// when there is a key.
	Threshold         int
	RequireSignatures bool
	Profile           string
}

// ResolveTrust is the trust rule, written once for every command: the keys
// are the --pubkey keys, else the profile's; the threshold is --threshold
// when given, wherever the keys come from, else the profile's when the
// keys are the profile's, else 0. resolve turns key references into keys.
func ResolveTrust(src TrustSources, resolve func(refs []string) ([]crypto.PublicKey, error)) (TrustPolicy, error) {
	refs, threshold := src.Pubkeys, src.Threshold
	if len(refs) == 0 {
		refs = src.ProfilePubkeys
		if threshold == 0 {
			threshold = src.ProfileThreshold
		}
	}
	p := TrustPolicy{Threshold: threshold, RequireSignatures: src.RequireSignatures, Profile: src.Profile}
	if len(refs) == 0 {
		return p, nil
	}
	keys, err := resolve(refs)
	if err != nil {
		return TrustPolicy{}, err
	}
	p.Keys = keys
	return p, nil
}

// Verdict verifies m at time at: form, digest, expiry and, with keys, the
// signatures. A policy that requires signatures but has no key fails.
func (p TrustPolicy) Verdict(ctx context.Context, m *release.Manifest, at time.Time) release.Verdict {
	v := release.Verify(ctx, m, release.VerifyOptions{Keys: p.Keys, Threshold: p.Threshold, At: at})
	if p.RequireSignatures && len(p.Keys) == 0 {
		v.OK = false
		v.Problems = append(v.Problems, "the profile requires signatures but names no trusted key")
	}
	return v
}

// CheckPublish is the policy's word on publishing m at time at: nil, or
// an error (wrapping release.ErrVerification when m fails verification).
// An unsigned release published without a key is a Warning.
func (p TrustPolicy) CheckPublish(ctx context.Context, m *release.Manifest, at time.Time, obs Observer) error {
	if p.RequireSignatures && len(p.Keys) == 0 {
		return withHint(fmt.Errorf("profile %q requires signatures but names no trusted key", p.Profile),
			"add one with 'otactl config set pubkey FILE|NAME', or give --pubkey")
	}
	v := release.Verify(ctx, m, release.VerifyOptions{Keys: p.Keys, Threshold: p.Threshold, At: at})
	if err := v.Err(); err != nil {
		return err
	}
	if len(p.Keys) == 0 && len(m.Signatures) == 0 {
		obs.emit(Warning{"publishing an unsigned release (no --pubkey, and the profile does not require signatures)"})
	}
	return nil
}
