package release

import (
	"crypto"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/otactl/otactl/internal/testkeys"
	"github.com/otactl/otactl/internal/testsecrets"
)

// These tests check the signatures and key ids against openssl, the tool an
// operator or a device vendor would use to check them without otactl.

func runOpenSSL(t *testing.T, openssl string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(openssl, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// opensslVerify runs the command of docs/protocol.md#signatures for alg and
// says whether openssl accepted the signature.
func opensslVerify(t *testing.T, openssl, alg, pubPEM, digestBin, sigBin string) (bool, string) {
	t.Helper()
	var args []string
	switch alg {
	case AlgEd25519:
		args = []string{"pkeyutl", "-verify", "-pubin", "-inkey", pubPEM, "-rawin", "-in", digestBin, "-sigfile", sigBin}
	case AlgECDSAP256:
		args = []string{"dgst", "-sha256", "-verify", pubPEM, "-signature", sigBin, digestBin}
	default:
		t.Fatalf("alg %s", alg)
	}
	out, err := runOpenSSL(t, openssl, args...)
	return err == nil, out
}

// opensslKeyID computes a key id with openssl alone:
// openssl pkey -pubin -outform DER | openssl dgst -sha256.
func opensslKeyID(t *testing.T, openssl, pubPEM string) string {
	t.Helper()
	der := pubPEM + ".der"
	if out, err := runOpenSSL(t, openssl, "pkey", "-pubin", "-in", pubPEM, "-outform", "DER", "-out", der); err != nil {
		t.Fatalf("openssl pkey: %v\n%s", err, out)
	}
	out, err := runOpenSSL(t, openssl, "dgst", "-sha256", "-r", der)
	if err != nil || len(out) < 16 {
		t.Fatalf("openssl dgst: %v\n%s", err, out)
	}
	return out[:16]
}

// checkWithOpenSSL signs the vector manifest with s and has openssl verify
// the signature and compute the key id; pubPEM is the public key file, or ""
// to export it from s.
func checkWithOpenSSL(t *testing.T, openssl string, s crypto.Signer, pubPEM string) {
	t.Helper()
	dir := t.TempDir()
	if pubPEM == "" {
		pubPEM = writeFile(t, dir, "pub.pem", publicPEM(t, s.Public()))
	}
	m := vectorManifest()
	if err := m.Sign(s); err != nil {
		t.Fatal(err)
	}
	sig := m.Signatures[0]
	raw, err := base64.StdEncoding.DecodeString(sig.Sig)
	if err != nil {
		t.Fatal(err)
	}
	d := m.Digest()
	digestBin := writeFile(t, dir, "digest.bin", d[:])
	sigBin := writeFile(t, dir, "sig.bin", raw)
	if ok, out := opensslVerify(t, openssl, sig.Alg, pubPEM, digestBin, sigBin); !ok {
		t.Errorf("openssl refused our %s signature:\n%s", sig.Alg, out)
	}
	id, err := KeyID(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	if oid := opensslKeyID(t, openssl, pubPEM); oid != id || sig.KeyID != id {
		t.Errorf("key id: openssl %s, KeyID %s, signature %s", oid, id, sig.KeyID)
	}
	// openssl must refuse the signature over other bytes, or this test
	// proves nothing.
	d[0] ^= 0x80
	other := writeFile(t, dir, "other.bin", d[:])
	if ok, out := opensslVerify(t, openssl, sig.Alg, pubPEM, other, sigBin); ok {
		t.Errorf("openssl accepted the %s signature over other bytes:\n%s", sig.Alg, out)
	}
}

func TestOpenSSLVerifiesOurSignatures(t *testing.T) {
	openssl := requireTool(t, "openssl")
	edKey, ecKey := testkeys.Ed25519(t), testkeys.P256(t)
	testsecrets.RegisterKey(t, "new ed25519 key", edKey)
	testsecrets.RegisterKey(t, "new ecdsa key", ecKey)
	for name, s := range map[string]crypto.Signer{
		"vector ed25519": loadSigner(t, "vector-ed25519.pem"),
		"vector ecdsa":   loadSigner(t, "vector-ecdsa-p256.pem"),
		"new ed25519":    edKey,
		"new ecdsa":      ecKey,
	} {
		t.Run(name, func(t *testing.T) { checkWithOpenSSL(t, openssl, s, "") })
	}
}

// TestOpenSSLKeysSignWithUs: keys made by openssl genpkey sign with otactl,
// and openssl verifies with the public key it extracts itself.
func TestOpenSSLKeysSignWithUs(t *testing.T) {
	openssl := requireTool(t, "openssl")
	for name, gen := range map[string][]string{
		"ed25519":    {"-algorithm", "ed25519"},
		"ecdsa-p256": {"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "key.pem")
			pub := filepath.Join(dir, "pub.pem")
			if out, err := runOpenSSL(t, openssl, append(append([]string{"genpkey"}, gen...), "-out", key)...); err != nil {
				t.Fatalf("openssl genpkey: %v\n%s", err, out)
			}
			if out, err := runOpenSSL(t, openssl, "pkey", "-in", key, "-pubout", "-out", pub); err != nil {
				t.Fatalf("openssl pkey -pubout: %v\n%s", err, out)
			}
			b, err := os.ReadFile(key)
			if err != nil {
				t.Fatal(err)
			}
			testsecrets.RegisterPEM(t, "openssl "+name+" key", b)
			s := parsePKCS8(t, b)
			if alg, _ := Algorithm(s.Public()); alg != name {
				t.Fatalf("Algorithm = %s", alg)
			}
			checkWithOpenSSL(t, openssl, s, pub)
		})
	}
}

// TestOpenSSLSignaturesVerifyWithUs: openssl signs the digest with the
// vector keys; VerifySignature accepts, and refuses the signature over
// other bytes.
func TestOpenSSLSignaturesVerifyWithUs(t *testing.T) {
	openssl := requireTool(t, "openssl")
	dir := t.TempDir()
	m := vectorManifest()
	d := m.Digest()
	digestBin := writeFile(t, dir, "digest.bin", d[:])
	for _, tt := range []struct{ key, alg string }{{"vector-ed25519.pem", AlgEd25519}, {"vector-ecdsa-p256.pem", AlgECDSAP256}} {
		key := filepath.Join("testdata", tt.key)
		sigBin := filepath.Join(dir, tt.alg+".sig")
		var args []string
		if tt.alg == AlgEd25519 {
			args = []string{"pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", digestBin, "-out", sigBin}
		} else {
			args = []string{"dgst", "-sha256", "-sign", key, "-out", sigBin, digestBin}
		}
		if out, err := runOpenSSL(t, openssl, args...); err != nil {
			t.Fatalf("openssl sign: %v\n%s", err, out)
		}
		raw, err := os.ReadFile(sigBin)
		if err != nil {
			t.Fatal(err)
		}
		pub := loadSigner(t, tt.key).Public()
		id, _ := KeyID(pub)
		sig := Signature{KeyID: id, Alg: tt.alg, Sig: base64.StdEncoding.EncodeToString(raw)}
		if err := VerifySignature(pub, d, sig); err != nil {
			t.Errorf("openssl's %s signature: %v", tt.alg, err)
		}
		if tt.alg == AlgEd25519 && sig.Sig != vectorEdSig {
			t.Errorf("openssl's ed25519 signature %s differs from the vector %s", sig.Sig, vectorEdSig)
		}
		other := d
		other[5] ^= 1
		if err := VerifySignature(pub, other, sig); err == nil {
			t.Errorf("openssl's %s signature verifies over other bytes", tt.alg)
		}
	}
	// The vector manifest as a whole: openssl checks both stored signatures.
	signed := signedVectorManifest(t)
	for _, s := range signed.Signatures {
		raw, _ := base64.StdEncoding.DecodeString(s.Sig)
		sigBin := writeFile(t, dir, s.KeyID+".sig", raw)
		key := map[string]string{AlgEd25519: "vector-ed25519.pem", AlgECDSAP256: "vector-ecdsa-p256.pem"}[s.Alg]
		pubPEM := writeFile(t, dir, s.KeyID+".pub.pem", publicPEM(t, loadSigner(t, key).Public()))
		if ok, out := opensslVerify(t, openssl, s.Alg, pubPEM, digestBin, sigBin); !ok {
			t.Errorf("openssl refused the vector's %s signature:\n%s", s.Alg, out)
		}
		if got := opensslKeyID(t, openssl, pubPEM); got != s.KeyID {
			t.Errorf("vector key id %s differs from openssl's %s", s.KeyID, got)
		}
	}
}
