package keyset

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/otactl/otactl/release"
)

// Encode is the key set as published: indented JSON ending in a newline,
// the same bytes for the same key set.
func Encode(ks *KeySet) ([]byte, error) {
	if err := ks.check(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(ks, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse decodes a key set read from the network and checks its form: the
// format, a positive version, at most MaxKeys release and root keys, each
// a supported public key whose keyid and alg are its own, sorted by keyid,
// thresholds from 1 to the number of keys, at most MaxSignatures
// signatures. Signatures are not checked here (SignedBy, Accept). Fields
// it does not know are ignored: they are not signed.
func Parse(b []byte) (*KeySet, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("key set is %d bytes, at most %d", len(b), MaxSize)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("key set is empty")
	}
	var ks KeySet
	if err := json.Unmarshal(b, &ks); err != nil {
		return nil, fmt.Errorf("key set is not JSON of the key set's form: %v", err)
	}
	for _, keys := range [][]Key{ks.Keys, ks.Roots} {
		if len(keys) > MaxKeys {
			break // check says so
		}
		for i := range keys {
			k, err := parseKey(keys[i])
			if err != nil {
				return nil, err
			}
			keys[i] = k
		}
	}
	if err := ks.check(); err != nil {
		return nil, err
	}
	if ks.Signatures == nil {
		ks.Signatures = []release.Signature{}
	}
	return &ks, nil
}
