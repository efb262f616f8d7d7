package release

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files and docs/protocol-vectors.md")

// encodings are m in JSON and in CBOR; the test fails when an encoder
// does.
func encodings(t testing.TB, m *Manifest) (j, c []byte) {
	t.Helper()
	j, err := EncodeJSON(m)
	if err != nil {
		t.Fatalf("EncodeJSON: %v", err)
	}
	c, err = EncodeCBOR(m)
	if err != nil {
		t.Fatalf("EncodeCBOR: %v", err)
	}
	return j, c
}

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenFile(t, filepath.Join("testdata", name), got)
}

// goldenFile compares got with the file at path, or writes it there with
// -update.
func goldenFile(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./release -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the code makes (run go test ./release -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// requireTool returns the path of a real tool, or skips the test when it is
// missing, unless OTACTL_TEST_REQUIRE_REAL=1, when it fails.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
			t.Fatalf("%s is required (OTACTL_TEST_REQUIRE_REAL=1) but missing: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// testdata is the file name in testdata/.
func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadSigner reads a PKCS#8 PEM private key from testdata.
func loadSigner(t testing.TB, name string) crypto.Signer {
	t.Helper()
	return parsePKCS8(t, testdata(t, name))
}

func parsePKCS8(t testing.TB, b []byte) crypto.Signer {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		t.Fatalf("no PRIVATE KEY block in %q", b)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

func publicPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// writeFile writes a file into dir and returns its path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pemPKCS8Ed25519 wraps an Ed25519 seed as a PKCS#8 PEM private key.
func pemPKCS8Ed25519(seed []byte) []byte {
	der := append([]byte{0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20}, seed...)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
