package publish

import (
	"context"
	"crypto"
	"fmt"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/keyset"
	"github.com/otactl/otactl/release"
)

// TrustSources are where trusted keys and the threshold can come from:
// the command line and the profile.
type TrustSources struct {
	Pubkeys   []string // --pubkey: PEM files or keyring names
	Threshold int      // --threshold; 0: not given
	// RootPubkeys are the root keys (--root-pubkey) the key set the fleet
	// follows must be signed by.
	RootPubkeys []string

	Profile        string // the profile's name, for messages
	ProfilePubkeys []string
	// ProfileRootPubkeys are the profile's root-pubkey, used when
	// RootPubkeys is empty.
	ProfileRootPubkeys []string
	ProfileThreshold   int
	RequireSignatures  bool
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
	// Roots are the root keys the fleet's key set must be signed by; none:
	// its own root keys (CheckKeySet).
	Roots []crypto.PublicKey
}

// ResolveTrust is the trust rule, written once for every command: the keys
// are the --pubkey keys, else the profile's; the threshold is --threshold
// when given, wherever the keys come from, else the profile's when the
// keys are the profile's, else 0. The root keys are --root-pubkey's, else
// the profile's root-pubkey; the key set the fleet follows adds its own
// rule (CheckKeySet). resolve turns key references into keys; flag
// ("--pubkey" or "--root-pubkey") names them in its errors.
func ResolveTrust(src TrustSources, resolve func(flag string, refs []string) ([]crypto.PublicKey, error)) (TrustPolicy, error) {
	var roots []crypto.PublicKey
	rootRefs := src.RootPubkeys
	if len(rootRefs) == 0 {
		rootRefs = src.ProfileRootPubkeys
	}
	if len(rootRefs) > 0 {
		var err error
		if roots, err = resolve("--root-pubkey", rootRefs); err != nil {
			return TrustPolicy{}, err
		}
	}
	refs, threshold := src.Pubkeys, src.Threshold
	if len(refs) == 0 {
		refs = src.ProfilePubkeys
		if threshold == 0 {
			threshold = src.ProfileThreshold
		}
	}
	p := TrustPolicy{Threshold: threshold, RequireSignatures: src.RequireSignatures, Profile: src.Profile, Roots: roots}
	if len(refs) == 0 {
		return p, nil
	}
	keys, err := resolve("--pubkey", refs)
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
		return hint.Wrap(fmt.Errorf("profile %q requires signatures but names no trusted key", p.Profile),
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

// CheckKeySet is the policy's word on publishing m to a fleet that follows
// ks, the key set retained on topic (nil: none). The key set must be signed
// by the policy's root keys at its root threshold (by its own root keys,
// with a Warning, when the policy has none): devices refuse any other, and
// keep following the one before. Then m must be signed by the key set's
// release keys at its threshold, as devices that follow it check. Errors
// wrap release.ErrVerification.
func (p TrustPolicy) CheckKeySet(ctx context.Context, m *release.Manifest, ks *keyset.KeySet, topic string, at time.Time, obs Observer) error {
	if ks == nil {
		if len(p.Roots) > 0 {
			obs.emit(Warning{fmt.Sprintf("no key set on %s: root keys given, but devices follow no key set there", topic)})
		}
		return nil
	}
	roots := p.Roots
	if len(roots) == 0 {
		roots = ks.Root().Keys
		obs.emit(Warning{fmt.Sprintf("key set version %d on %s checked against its own root keys only (give --root-pubkey to check it against the root devices trust)", ks.Version, topic)})
	}
	err := ks.SignedBy(roots, ks.RootThreshold)
	if err == nil {
		// Devices take a key set only when its own roots signed it too
		// (keyset.Accept).
		err = ks.SignedBy(ks.Root().Keys, ks.RootThreshold)
	}
	if err != nil {
		return hint.Wrap(fmt.Errorf("key set on %s: %w", topic, err),
			"devices refuse this key set and keep following the one before: publish one signed by the root keys they trust with 'otactl key rotate'")
	}
	keys, threshold := ks.ReleaseKeys()
	v := release.Verify(ctx, m, release.VerifyOptions{Keys: keys, Threshold: threshold, At: at})
	if err := v.Err(); err != nil {
		return hint.Wrap(fmt.Errorf("release keys of key set version %d on %s: %w", ks.Version, topic, err),
			"devices that follow the key set refuse this release: sign it with its release keys (otactl release sign --sign KEY)")
	}
	return nil
}
