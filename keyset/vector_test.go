package keyset

import (
	"crypto"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/keys"
)

var update = flag.Bool("update", false, "rewrite testdata/vector-keyset.json")

// vectorKey reads a test key of release/testdata (docs/protocol-vectors.md).
func vectorKey(t *testing.T, name string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "release", "testdata", name))
	var k crypto.Signer
	if err == nil {
		k, err = keys.ParsePrivatePEM(b)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVector: key set version 1 of the protocol's test keys (release key
// the ECDSA P-256 one, root the Ed25519 one of RFC 8032, whose signatures
// are deterministic) is testdata/vector-keyset.json byte for byte, and
// docs/protocol.md#test-vector-1 shows its signed text, digest and
// signature.
func TestVector(t *testing.T) {
	root, rel := vectorKey(t, "vector-ed25519.pem"), vectorKey(t, "vector-ecdsa-p256.pem")
	ks := signedSet(t, 1, []crypto.Signer{rel}, []crypto.Signer{root}, root)
	got, err := Encode(ks)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "vector-keyset.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("the vector key set changed:\n%s\nwant\n%s", got, want)
	}
	parsed, err := Parse(want)
	if err == nil {
		err = Accept(Root{Keys: []crypto.PublicKey{root.Public()}, Threshold: 1}, parsed)
	}
	if err != nil {
		t.Fatalf("a device refuses the vector: %v", err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"```\n" + ks.SignedText() + "```", fmt.Sprintf("`%x`", ks.Digest()), ks.Signatures[0].Sig} {
		if !strings.Contains(string(doc), s) {
			t.Errorf("docs/protocol.md lacks\n%s", s)
		}
	}
}
