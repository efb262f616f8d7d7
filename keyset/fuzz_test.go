package keyset

import (
	"crypto"
	"crypto/ed25519"
	"testing"
)

// FuzzParse feeds Parse bytes as a broker would deliver them: it must
// never panic, and what it accepts must encode to a key set that parses
// to the same signed text, and Accept must judge it without panicking.
func FuzzParse(f *testing.F) {
	root, rel := edKey(f), ecKey(f)
	good, err := Encode(signedSet(f, 1, []crypto.Signer{rel}, []crypto.Signer{root}, root))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"format":"ota-keyset-v1","version":1,"threshold":1,"keys":[],"rootThreshold":1,"roots":[]}`))
	f.Add([]byte(`{"format":"ota-keyset-v1","version":1,"threshold":1,"keys":[{"keyid":"0","alg":"ed25519","public":"MCowBQYDK2VwAyEA"}]}`))
	f.Add([]byte(`{"signatures":[{"keyid":"","alg":"","sig":""}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	trust := Root{Keys: []crypto.PublicKey{root.Public(), ed25519.PublicKey(make([]byte, 32))}, Threshold: 1}
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := Parse(b)
		if err != nil {
			return
		}
		_ = Accept(trust, ks)
		again, err := Encode(ks)
		if err != nil {
			t.Fatalf("encode what Parse accepted: %v", err)
		}
		ks2, err := Parse(again)
		if err != nil {
			t.Fatalf("parse what Encode wrote: %v\n%s", err, again)
		}
		if ks2.SignedText() != ks.SignedText() || len(ks2.Signatures) != len(ks.Signatures) {
			t.Fatalf("round trip changed the key set:\n%s\n%s", ks.SignedText(), ks2.SignedText())
		}
	})
}
