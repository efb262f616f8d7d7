package keyset

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testkeys"
	"github.com/otactl/otactl/release"
)

func edKey(t testing.TB) crypto.Signer { return testkeys.Ed25519(t) }

func ecKey(t testing.TB) crypto.Signer { return testkeys.P256(t) }

// signedSet builds version v with the release keys rel (threshold 1) and
// roots (threshold 1), signed by signers.
func signedSet(t testing.TB, v int64, rel []crypto.Signer, roots []crypto.Signer, signers ...crypto.Signer) *KeySet {
	t.Helper()
	ks, err := Build(v, pubs(rel), 1, pubs(roots), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Sign(signers...); err != nil {
		t.Fatal(err)
	}
	return ks
}

func pubs(signers []crypto.Signer) []crypto.PublicKey {
	out := make([]crypto.PublicKey, len(signers))
	for i, s := range signers {
		out[i] = s.Public()
	}
	return out
}

func TestRoundTripAndSignedText(t *testing.T) {
	rootA, rel1, rel2 := ecKey(t), edKey(t), ecKey(t)
	ks := signedSet(t, 3, []crypto.Signer{rel2, rel1}, []crypto.Signer{rootA}, rootA)
	b, err := Encode(ks)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatalf("parse what Encode wrote: %v\n%s", err, b)
	}
	if got.Digest() != ks.Digest() || got.SignedText() != ks.SignedText() {
		t.Fatalf("round trip changed the signed text:\n%s\n%s", ks.SignedText(), got.SignedText())
	}
	again, _ := Encode(got)
	if string(again) != string(b) {
		t.Errorf("encoding is not stable:\n%s\n%s", b, again)
	}
	lines := strings.Split(strings.TrimSuffix(ks.SignedText(), "\n"), "\n")
	if len(lines) != 7 || lines[0] != "ota-keyset-v1" || lines[1] != "version 3" || lines[2] != "threshold 1" ||
		!strings.HasPrefix(lines[3], "key ") || !strings.HasPrefix(lines[4], "key ") || lines[5] != "root-threshold 1" || !strings.HasPrefix(lines[6], "root ") {
		t.Fatalf("signed text:\n%s", ks.SignedText())
	}
	if lines[3] > lines[4] {
		t.Errorf("release keys are not sorted by keyid:\n%s", ks.SignedText())
	}
	keys, n := got.ReleaseKeys()
	if len(keys) != 2 || n != 1 {
		t.Fatalf("release keys %d, threshold %d", len(keys), n)
	}
	if err := Accept(Root{Keys: []crypto.PublicKey{rootA.Public()}, Threshold: 1}, got); err != nil {
		t.Fatalf("accept a set signed by its root: %v", err)
	}
}

func TestAccept(t *testing.T) {
	rootA, rootB, other, rel1, rel2 := edKey(t), ecKey(t), edKey(t), edKey(t), edKey(t)
	trustA := Root{Keys: []crypto.PublicKey{rootA.Public()}, Threshold: 1, Version: 1}
	for _, tc := range []struct {
		name  string
		root  Root
		set   *KeySet
		want  string // "" accepted
		older bool
	}{
		{"newer, signed by the root", trustA, signedSet(t, 2, []crypto.Signer{rel2}, []crypto.Signer{rootA}, rootA), "", false},
		{"same version", trustA, signedSet(t, 1, []crypto.Signer{rel2}, []crypto.Signer{rootA}, rootA), "not above", true},
		{"older version", Root{Keys: trustA.Keys, Threshold: 1, Version: 5}, signedSet(t, 4, []crypto.Signer{rel2}, []crypto.Signer{rootA}, rootA), "not above", true},
		{"signed by a non-root key naming itself root", trustA, signedSet(t, 2, []crypto.Signer{rel2}, []crypto.Signer{other}, other), "0 valid signatures by the 1 trusted root keys, 1 needed", false},
		{"unsigned", trustA, signedSet(t, 2, []crypto.Signer{rel2}, []crypto.Signer{rootA}), "0 valid signatures", false},
		{"root moves to B, signed by A and B", trustA, signedSet(t, 2, []crypto.Signer{rel1}, []crypto.Signer{rootB}, rootA, rootB), "", false},
		{"root moves to B, signed by A only", trustA, signedSet(t, 2, []crypto.Signer{rel1}, []crypto.Signer{rootB}, rootA), "by its own new root keys", false},
		{"no trusted root", Root{}, signedSet(t, 2, []crypto.Signer{rel1}, []crypto.Signer{rootA}, rootA), "no trusted root key", false},
		{"two roots of two needed, one signed", Root{Keys: []crypto.PublicKey{rootA.Public(), rootB.Public()}, Threshold: 2}, signedSet(t, 2, []crypto.Signer{rel1}, []crypto.Signer{rootA}, rootA), "1 valid signatures by the 2 trusted root keys, 2 needed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Accept(tc.root, tc.set)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, release.ErrVerification) {
				t.Fatalf("got %v, want an error wrapping ErrVerification with %q", err, tc.want)
			}
			if errors.Is(err, ErrOlder) != tc.older {
				t.Errorf("errors.Is(err, ErrOlder) = %v", !tc.older)
			}
		})
	}
}

// TestSignatureOfAnotherSet: a signature is over the signed text, so one
// copied from another key set does not count.
func TestSignatureOfAnotherSet(t *testing.T) {
	rootA, rel1, rel2 := edKey(t), edKey(t), edKey(t)
	good := signedSet(t, 2, []crypto.Signer{rel1}, []crypto.Signer{rootA}, rootA)
	forged := signedSet(t, 2, []crypto.Signer{rel2}, []crypto.Signer{rootA})
	forged.Signatures = good.Signatures
	if err := Accept(Root{Keys: []crypto.PublicKey{rootA.Public()}, Threshold: 1}, forged); err == nil {
		t.Fatal("a signature copied from another key set was accepted")
	}
}

func TestBuildRefuses(t *testing.T) {
	a, b := edKey(t), edKey(t)
	for _, tc := range []struct {
		name string
		v    int64
		rel  []crypto.PublicKey
		n    int
		want string
	}{
		{"version 0", 0, []crypto.PublicKey{a.Public()}, 1, "must be positive"},
		{"no release key", 1, nil, 1, "no release key"},
		{"threshold above the keys", 1, []crypto.PublicKey{a.Public()}, 2, "release threshold 2: want 1 to the 1"},
		{"threshold 0", 1, []crypto.PublicKey{a.Public()}, 0, "release threshold 0"},
		{"the same key twice", 1, []crypto.PublicKey{a.Public(), a.Public()}, 1, "twice"},
		{"ECDSA P-384", 1, []crypto.PublicKey{&ecdsa.PublicKey{Curve: elliptic.P384()}}, 1, "unsupported key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.v, tc.rel, tc.n, []crypto.PublicKey{b.Public()}, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	root, rel := edKey(t), ecKey(t)
	good, _ := Encode(signedSet(t, 1, []crypto.Signer{rel}, []crypto.Signer{root}, root))
	other, _ := NewKey(edKey(t).Public())
	s := string(good)
	ks, _ := Parse(good)
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"empty", "", "empty"},
		{"not JSON", "{", "not JSON"},
		{"other format", strings.Replace(s, Format, "ota-keyset-v9", 1), "format"},
		{"keyid not the key's", strings.Replace(s, ks.Keys[0].KeyID, other.KeyID, 1), "not the key's own"},
		{"alg not the key's", strings.Replace(s, `"alg": "ecdsa-p256"`, `"alg": "ed25519"`, 1), "not the key's own"},
		{"public not base64", strings.Replace(s, ks.Keys[0].DER, "%%%", 1), "not standard base64"},
		{"public not a key", strings.Replace(s, ks.Keys[0].DER, "AAAA", 1), "not a DER"},
		{"negative version", strings.Replace(s, `"version": 1`, `"version": -1`, 1), "must be positive"},
		{"too big", s + strings.Repeat(" ", MaxSize), "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
