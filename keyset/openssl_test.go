package keyset

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// opensslRecipe is the check of docs/protocol.md#key-set, word for word:
// jq rebuilds the signed text, openssl hashes it and verifies a root's
// signature. $ALG, $KEYID and the files are set by the test.
const opensslRecipe = `set -e
jq -j '"ota-keyset-v1\nversion \(.version)\nthreshold \(.threshold)\n",
       (.keys[] | "key \(.keyid) \(.alg) \(.public)\n"),
       "root-threshold \(.rootThreshold)\n",
       (.roots[] | "root \(.keyid) \(.alg) \(.public)\n")' keys.json > keyset.txt
openssl dgst -sha256 -binary keyset.txt > digest.bin
jq -r --arg id "$KEYID" '.signatures[] | select(.keyid == $id) | .sig' keys.json | base64 -d > sig.bin
if [ "$ALG" = ed25519 ]; then
  openssl pkeyutl -verify -pubin -inkey root.pem -rawin -in digest.bin -sigfile sig.bin
else
  openssl dgst -sha256 -verify root.pem -signature sig.bin digest.bin
fi
jq -r --arg id "$KEYID" '.roots[] | select(.keyid == $id) | .public' keys.json | base64 -d > root.der
openssl pkey -pubin -inform DER -in root.der -outform DER | openssl dgst -sha256 -r | cut -c1-16
`

// TestOpenSSLChecksAKeySet: a device vendor checks a key set's root
// signatures and key ids with jq and openssl alone, for both algorithms;
// a key set changed after signing fails the same check.
func TestOpenSSLChecksAKeySet(t *testing.T) {
	for _, tool := range []string{"openssl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
				t.Fatalf("%s is not installed", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	for _, root := range []crypto.Signer{edKey(t), ecKey(t)} {
		ks := signedSet(t, 7, []crypto.Signer{ecKey(t), edKey(t)}, []crypto.Signer{root}, root)
		id, alg := ks.Roots[0].KeyID, ks.Roots[0].Alg
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			der, err := x509.MarshalPKIXPublicKey(root.Public())
			if err != nil {
				t.Fatal(err)
			}
			write(t, dir, "root.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
			b, _ := Encode(ks)
			write(t, dir, "keys.json", b)
			out, err := recipe(dir, id, alg)
			if err != nil || !strings.HasSuffix(out, "\n"+id+"\n") {
				t.Fatalf("the recipe refused a good key set: %v\n%s", err, out)
			}
			text, _ := os.ReadFile(filepath.Join(dir, "keyset.txt"))
			if string(text) != ks.SignedText() {
				t.Fatalf("jq rebuilt\n%s\nwant\n%s", text, ks.SignedText())
			}
			write(t, dir, "keys.json", []byte(strings.Replace(string(b), `"threshold": 1`, `"threshold": 2`, 1)))
			if out, err := recipe(dir, id, alg); err == nil {
				t.Fatalf("openssl accepted a key set changed after signing:\n%s", out)
			}
		})
	}
}

func recipe(dir, id, alg string) (string, error) {
	cmd := exec.Command("sh", "-c", opensslRecipe)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KEYID="+id, "ALG="+alg)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func write(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
