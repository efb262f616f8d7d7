package simulator

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/otactl/otactl/keyset"
)

// trust is what a device verifies with, kept as if in flash: the root
// that signs key sets, and the release keys that sign manifests.
type trust struct {
	root      keyset.Root
	keys      []crypto.PublicKey
	threshold int
	sum       [32]byte // the SHA-256 of the key set's bytes; zero before the first
}

// provisioned is the trust a device leaves the factory with: the root
// keys, and the release keys it trusts before its first key set.
func provisioned(cfg *Config) trust {
	return trust{root: keyset.Root{Keys: cfg.Roots, Threshold: max(cfg.RootThreshold, 1)}, keys: cfg.Keys, threshold: cfg.Threshold}
}

// releaseKeys are the keys manifests are verified with, and how many must
// have signed. ok is false for a device with root keys that has no
// release key yet: it acts on no manifest until a key set comes.
func (d *Device) releaseKeys() (keys []crypto.PublicKey, threshold int, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.trust
	return t.keys, t.threshold, len(t.keys) > 0 || len(d.cfg.Roots) == 0
}

// KeySetVersion is the version of the key set the device follows, 0
// before the first.
func (d *Device) KeySetVersion() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.trust.root.Version
}

// takeKeySet judges the key set retained on P.u/keys by the device's rule
// (keyset.Accept): a new one signed by the threshold of the root keys it
// trusts now, and by its own, with a higher version, replaces the trust;
// anything else is refused and logged once while the device follows the
// same key set (an old one replayed included), and the device keeps the
// key set it follows. An empty payload (a cleared topic) changes nothing.
// Manifests refused under the old keys are judged again.
func (d *Device) takeKeySet(payload []byte) {
	if len(payload) == 0 {
		return
	}
	sum := sha256.Sum256(payload)
	d.mu.Lock()
	judged, root := d.keySets[sum] || sum == d.trust.sum, d.trust.root
	d.keySets[sum] = true
	d.mu.Unlock()
	if judged {
		return
	}
	ks, err := keyset.Parse(payload)
	if err == nil {
		err = keyset.Accept(root, ks)
	}
	if err != nil {
		detail := "key set refused: " + err.Error()
		if errors.Is(err, keyset.ErrOlder) {
			detail = fmt.Sprintf("key set version %d refused: not above version %d, the one followed", ks.Version, root.Version)
		}
		d.event(Event{Kind: EventKeySetRefused, Version: d.Version(), Detail: detail})
		return
	}
	keys, threshold := ks.ReleaseKeys()
	d.mu.Lock()
	d.trust = trust{root: ks.Root(), keys: keys, threshold: threshold, sum: sum}
	d.keySets = map[[32]byte]bool{}
	d.refused = map[[32]byte]bool{}
	d.mu.Unlock()
	ids := make([]string, len(ks.Keys))
	for i, k := range ks.Keys {
		ids[i] = k.KeyID
	}
	d.event(Event{Kind: EventKeySet, Version: d.Version(),
		Detail: fmt.Sprintf("following key set version %d: release keys %s, threshold %d", ks.Version, strings.Join(ids, ", "), threshold)})
}
