// Package keyset is the signed key set a fleet follows (docs/protocol.md#key-set):
// the release keys that sign manifests and their threshold, the root keys
// that sign key sets and theirs, and a version that only grows. It builds,
// signs, encodes, decodes and verifies key sets, and holds the rule a
// device applies to a new one (Accept). It speaks no MQTT.
package keyset

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/otactl/otactl/release"
)

// Limits of a key set, so that a device can hold one in fixed buffers.
const (
	MaxKeys       = 16       // release keys, and root keys, each
	MaxSignatures = 16       // signatures on one key set
	MaxSize       = 32 << 10 // bytes of an encoded key set
)

// Format is the first line of the signed text and the value of "format".
const Format = "ota-keyset-v1"

// Key is one public key of a key set.
type Key struct {
	KeyID string `json:"keyid"`
	Alg   string `json:"alg"`    // release.AlgEd25519 or release.AlgECDSAP256
	DER   string `json:"public"` // standard base64 of the DER SubjectPublicKeyInfo

	pub crypto.PublicKey
}

// Public is the key itself.
func (k Key) Public() crypto.PublicKey { return k.pub }

// NewKey describes pub as a key set holds it.
func NewKey(pub crypto.PublicKey) (Key, error) {
	alg, id, err := release.Identify(pub)
	if err != nil {
		return Key{}, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return Key{}, fmt.Errorf("marshal public key: %w", err)
	}
	return Key{KeyID: id, Alg: alg, DER: base64.StdEncoding.EncodeToString(der), pub: pub}, nil
}

// parseKey checks a key read from the network: its DER parses to a key of
// a supported kind whose id and algorithm are the ones written beside it.
func parseKey(k Key) (Key, error) {
	der, err := base64.StdEncoding.Strict().DecodeString(k.DER)
	if err != nil || base64.StdEncoding.EncodeToString(der) != k.DER {
		return Key{}, fmt.Errorf("key %s: public is not standard base64", show(k.KeyID))
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return Key{}, fmt.Errorf("key %s: public is not a DER SubjectPublicKeyInfo", show(k.KeyID))
	}
	got, err := NewKey(pub)
	if err != nil {
		return Key{}, fmt.Errorf("key %s: %w", show(k.KeyID), err)
	}
	if got.KeyID != k.KeyID || got.Alg != k.Alg || got.DER != k.DER {
		return Key{}, fmt.Errorf("key %s: keyid or alg is not the key's own (%s %s)", show(k.KeyID), got.KeyID, got.Alg)
	}
	return got, nil
}

// KeySet is a signed key set.
type KeySet struct {
	Format        string              `json:"format"`
	Version       int64               `json:"version"`
	Threshold     int                 `json:"threshold"` // release signatures a manifest needs
	Keys          []Key               `json:"keys"`      // release keys, sorted by keyid
	RootThreshold int                 `json:"rootThreshold"`
	Roots         []Key               `json:"roots"` // root keys, sorted by keyid
	Signatures    []release.Signature `json:"signatures"`
}

// Build makes an unsigned key set. Keys are sorted by id; the same key
// given twice is refused.
func Build(version int64, releaseKeys []crypto.PublicKey, threshold int, roots []crypto.PublicKey, rootThreshold int) (*KeySet, error) {
	ks := &KeySet{Format: Format, Version: version, Threshold: threshold, RootThreshold: rootThreshold, Signatures: []release.Signature{}}
	var err error
	if ks.Keys, err = describe(releaseKeys); err != nil {
		return nil, fmt.Errorf("release key: %w", err)
	}
	if ks.Roots, err = describe(roots); err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	if err := ks.check(); err != nil {
		return nil, err
	}
	return ks, nil
}

func describe(pubs []crypto.PublicKey) ([]Key, error) {
	out := make([]Key, 0, len(pubs))
	for _, p := range pubs {
		k, err := NewKey(p)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KeyID < out[j].KeyID })
	return out, nil
}

// check is the form every key set has: version, keys, thresholds.
func (ks *KeySet) check() error {
	switch {
	case ks.Format != Format:
		return fmt.Errorf("key set format %q: want %s", show(ks.Format), Format)
	case ks.Version < 1:
		return fmt.Errorf("key set version %d: must be positive", ks.Version)
	}
	if err := checkKeys("release", ks.Keys, ks.Threshold); err != nil {
		return err
	}
	if err := checkKeys("root", ks.Roots, ks.RootThreshold); err != nil {
		return err
	}
	if len(ks.Signatures) > MaxSignatures {
		return fmt.Errorf("key set has %d signatures, at most %d", len(ks.Signatures), MaxSignatures)
	}
	return nil
}

func checkKeys(what string, keys []Key, threshold int) error {
	switch {
	case len(keys) == 0:
		return fmt.Errorf("key set has no %s key", what)
	case len(keys) > MaxKeys:
		return fmt.Errorf("key set has %d %s keys, at most %d", len(keys), what, MaxKeys)
	case threshold < 1 || threshold > len(keys):
		return fmt.Errorf("key set %s threshold %d: want 1 to the %d %s keys", what, threshold, len(keys), what)
	}
	for i := 1; i < len(keys); i++ {
		if keys[i].KeyID <= keys[i-1].KeyID {
			return fmt.Errorf("key set %s keys are not sorted by keyid, or key %s is there twice", what, keys[i].KeyID)
		}
	}
	return nil
}

// SignedText is what the key set's digest is the SHA-256 of
// (docs/protocol.md#key-set): one line each, every line ending in "\n".
func (ks *KeySet) SignedText() string {
	lines := []string{Format, "version " + strconv.FormatInt(ks.Version, 10), "threshold " + strconv.Itoa(ks.Threshold)}
	lines = appendKeyLines(lines, "key", ks.Keys)
	lines = append(lines, "root-threshold "+strconv.Itoa(ks.RootThreshold))
	lines = appendKeyLines(lines, "root", ks.Roots)
	return strings.Join(lines, "\n") + "\n"
}

// appendKeyLines appends a line "WORD KEYID ALG PUBLIC" per key.
func appendKeyLines(lines []string, word string, keys []Key) []string {
	for _, k := range keys {
		lines = append(lines, word+" "+k.KeyID+" "+k.Alg+" "+k.DER)
	}
	return lines
}

// Digest is the SHA-256 of SignedText: the 32 bytes root keys sign.
func (ks *KeySet) Digest() [32]byte { return sha256.Sum256([]byte(ks.SignedText())) }

// Sign adds each signer's signature over the digest, replacing an earlier
// one by the same key; it stops at the first that fails. Any key may
// sign; whether its signature counts is for SignedBy and Accept to say.
func (ks *KeySet) Sign(signers ...crypto.Signer) error {
	for _, s := range signers {
		sig, err := release.SignDigest(s, ks.Digest())
		if err != nil {
			return err
		}
		ks.Signatures = release.AddSignature(ks.Signatures, sig)
	}
	return nil
}

// ReleaseKeys are the public keys that sign manifests, and how many of
// them must.
func (ks *KeySet) ReleaseKeys() ([]crypto.PublicKey, int) {
	return publics(ks.Keys), ks.Threshold
}

// Root is the root a device trusts once it accepted ks.
func (ks *KeySet) Root() Root {
	return Root{Keys: publics(ks.Roots), Threshold: ks.RootThreshold, Version: ks.Version}
}

func publics(keys []Key) []crypto.PublicKey {
	out := make([]crypto.PublicKey, len(keys))
	for i, k := range keys {
		out[i] = k.pub
	}
	return out
}

// Root is what a device trusts key sets by: root keys, how many of them
// must sign, and the version of the key set it follows now (0 before the
// first one).
type Root struct {
	Keys      []crypto.PublicKey
	Threshold int
	Version   int64
}

// SignedBy counts the distinct keys of keys with a valid signature on ks
// and returns an error wrapping release.ErrVerification when fewer than
// threshold (at least 1) did. Signatures by other keys are ignored.
func (ks *KeySet) SignedBy(keys []crypto.PublicKey, threshold int) error {
	threshold = max(threshold, 1)
	digest := ks.Digest()
	valid := map[string]bool{}
	for _, k := range keys {
		id, err := release.KeyID(k)
		if err != nil {
			return err
		}
		for _, s := range ks.Signatures {
			if s.KeyID == id && !valid[id] && release.VerifySignature(k, digest, s) == nil {
				valid[id] = true
			}
		}
	}
	if len(valid) < threshold {
		return fmt.Errorf("%w: key set version %d has %d valid signatures by the %d trusted root keys, %d needed",
			release.ErrVerification, ks.Version, len(valid), len(keys), threshold)
	}
	return nil
}

// ErrOlder is a key set whose version is not above the one followed.
var ErrOlder = errors.New("key set version is not above the one followed")

// Accept is the rule a device applies to a key set it receives while it
// trusts r: the version must be above r.Version, threshold of r's root keys
// must have signed it, and so must the threshold of its own root keys (so
// that a key set never names a root that cannot sign the next one).
// Errors wrap release.ErrVerification; an older or equal version also
// wraps ErrOlder.
func Accept(r Root, ks *KeySet) error {
	if ks.Version <= r.Version {
		return fmt.Errorf("%w: %w: version %d, following %d", release.ErrVerification, ErrOlder, ks.Version, r.Version)
	}
	if len(r.Keys) == 0 {
		return fmt.Errorf("%w: no trusted root key to check key set version %d with", release.ErrVerification, ks.Version)
	}
	if err := ks.SignedBy(r.Keys, r.Threshold); err != nil {
		return err
	}
	own, n := ks.Root().Keys, ks.RootThreshold
	if err := ks.SignedBy(own, n); err != nil {
		return fmt.Errorf("%w (by its own new root keys)", err)
	}
	return nil
}

// show quotes a value read from the network for a message, cut short.
func show(s string) string {
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strconv.Quote(s)
}
