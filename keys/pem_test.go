package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/otactl/otactl/internal/testkeys"
	"github.com/otactl/otactl/internal/testsecrets"
)

func TestValidateKeyName(t *testing.T) {
	for _, ok := range []string{"a", "release-2024", "ci_key.v2", "A-Z.0_9", "a.", strings.Repeat("x", 64)} {
		if err := ValidateKeyName(ok); err != nil {
			t.Errorf("ValidateKeyName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".a", "a b", "a/b", "a@b", "a:b", "a+b", "é", "a\x00", strings.Repeat("x", 65), "key#1", "$x"} {
		if err := ValidateKeyName(bad); err == nil {
			t.Errorf("ValidateKeyName(%q) accepted", bad)
		}
	}
	// A PEM key pasted in place of a name is not echoed.
	k, _ := GenerateKey("")
	p, _ := MarshalPrivatePEM(k)
	if err := ValidateKeyName(string(p)); err == nil || strings.Contains(err.Error(), "PRIVATE") {
		t.Errorf("ValidateKeyName(PEM) = %v", err)
	}
}

func TestMapKeyringError(t *testing.T) {
	if mapKeyringError(nil) != nil {
		t.Fatal("nil error mapped")
	}
	if err := mapKeyringError(keyring.ErrNotFound); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrKeyringUnavailable) {
		t.Fatalf("not found: %v", err)
	}
	if err := mapKeyringError(keyring.ErrSetDataTooBig); !errors.Is(err, ErrTooBig) || errors.Is(err, ErrKeyringUnavailable) {
		t.Fatalf("too big: %v", err)
	}
	dbusErr := errors.New("The name org.freedesktop.secrets was not provided by any .service files")
	err := mapKeyringError(dbusErr)
	var ue *UnavailableError
	if !errors.Is(err, ErrKeyringUnavailable) || !errors.As(err, &ue) || !errors.Is(err, dbusErr) {
		t.Fatalf("dbus failure: %v", err)
	}
	if ue.Hint() != "use a key file (--sign file:PATH) or an environment variable (--sign env:OTACTL_SIGNING_KEY)" {
		t.Fatalf("hint %q", ue.Hint())
	}
	if !strings.Contains(err.Error(), "OS keyring unavailable: The name org.freedesktop.secrets") {
		t.Fatalf("message %q", err)
	}
}

func TestPEMRoundTrip(t *testing.T) {
	for _, alg := range []string{"ed25519", "ecdsa-p256"} {
		k, p := keyPEM(t, alg)
		if !bytes.HasPrefix(p, []byte("-----BEGIN PRIVATE KEY-----\n")) {
			t.Fatalf("%s: %.30q", alg, p)
		}
		got, err := ParsePrivatePEM(p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Public(), k.Public()) {
			t.Fatalf("%s: public key changed", alg)
		}
		pub, err := ParsePublicPEM(p)
		if err != nil || !reflect.DeepEqual(pub, k.Public()) {
			t.Fatalf("%s: ParsePublicPEM(private) = %v", alg, err)
		}
		pp, err := ExportPublic(k.Public(), "pem", "k")
		if err != nil {
			t.Fatal(err)
		}
		pub, err = ParsePublicPEM(pp)
		if err != nil || !reflect.DeepEqual(pub, k.Public()) {
			t.Fatalf("%s: ParsePublicPEM = %v", alg, err)
		}
		if _, err := ParsePrivatePEM(pp); err == nil || !strings.Contains(err.Error(), "public key, not a private key") {
			t.Fatalf("%s: ParsePrivatePEM(public) = %v", alg, err)
		}
	}
}

func TestUnsupportedKeys(t *testing.T) {
	rk, p384 := testkeys.RSA(t), testkeys.P384(t)
	der := func(k any) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sec1, _ := x509.MarshalECPrivateKey(p384)
	pkix, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	pkixRSA, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	for _, tc := range []struct {
		name, typ string
		der       []byte
		want      string
	}{
		{"rsa pkcs8", "PRIVATE KEY", der(rk), "unsupported key algorithm RSA-1024: use ed25519 or ecdsa-p256"},
		{"p384 pkcs8", "PRIVATE KEY", der(p384), "unsupported key algorithm ECDSA P-384"},
		{"p384 sec1", "EC PRIVATE KEY", sec1, "unsupported key algorithm ECDSA P-384"},
	} {
		b := pem.EncodeToMemory(&pem.Block{Type: tc.typ, Bytes: tc.der})
		if _, err := ParsePrivatePEM(b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParsePrivatePEM = %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, d := range [][]byte{pkix, pkixRSA} {
		b := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: d})
		if _, err := ParsePublicPEM(b); err == nil || !strings.Contains(err.Error(), "unsupported key algorithm") {
			t.Errorf("ParsePublicPEM = %v", err)
		}
	}
	if _, err := MarshalPrivatePEM(rk); err == nil {
		t.Error("MarshalPrivatePEM took an RSA key")
	}
	if _, err := ExportPublic(&rk.PublicKey, "pem", "x"); err == nil {
		t.Error("ExportPublic took an RSA key")
	}
}

func TestParseSkipsOtherBlocksAndRefusesTwoKeys(t *testing.T) {
	k, _ := GenerateKey("ecdsa-p256")
	sec1, _ := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
	params := []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n")
	b := append(append([]byte("comment line\n"), params...), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...)
	got, err := ParsePrivatePEM(b)
	if err != nil || !reflect.DeepEqual(got.Public(), k.Public()) {
		t.Fatalf("SEC1 after EC PARAMETERS: %v", err)
	}
	// SEC1 bytes labelled PKCS#8 and the other way round.
	swapped := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: sec1})
	if got, err := ParsePrivatePEM(swapped); err != nil || !reflect.DeepEqual(got.Public(), k.Public()) {
		t.Fatalf("SEC1 labelled PRIVATE KEY: %v", err)
	}
	p8, _ := MarshalPrivatePEM(k)
	blk, _ := pem.Decode(p8)
	swapped = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: blk.Bytes})
	if got, err := ParsePrivatePEM(swapped); err != nil || !reflect.DeepEqual(got.Public(), k.Public()) {
		t.Fatalf("PKCS#8 labelled EC PRIVATE KEY: %v", err)
	}
	two := append(append([]byte{}, p8...), p8...)
	if _, err := ParsePrivatePEM(two); err == nil || !strings.Contains(err.Error(), "holds 2 private keys") {
		t.Fatalf("two keys: %v", err)
	}
	if _, err := ParsePublicPEM(two); err == nil || !strings.Contains(err.Error(), "holds 2 keys") {
		t.Fatalf("two keys: %v", err)
	}
	legacy := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: sec1})
	if _, err := ParsePrivatePEM(legacy); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("legacy encrypted: %v", err)
	}
}

func TestErrorsDoNotShowKeyMaterial(t *testing.T) {
	k, _ := GenerateKey("ed25519")
	p, _ := MarshalPrivatePEM(k)
	blk, _ := pem.Decode(p)
	// Damage the key: a valid PEM armour around bytes that do not parse.
	bad := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: blk.Bytes[:len(blk.Bytes)-3]})
	body := strings.Split(string(bad), "\n")[1]
	_, err := ParsePrivatePEM(bad)
	if err == nil {
		t.Fatal("damaged key parsed")
	}
	seed := k.(ed25519.PrivateKey).Seed()
	for _, secret := range []string{body, body[:20], string(seed)} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error shows key material: %v", err)
		}
	}
}

// opensslKey runs openssl to make a private key file and returns its path.
func opensslKey(t *testing.T, openssl string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "key.pem")
	cmd := exec.Command(openssl, append(args, "-out", out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	if b, err := os.ReadFile(out); err == nil {
		testsecrets.RegisterPEM(t, "openssl key", b)
	}
	return out
}

func TestOpenSSLKeys(t *testing.T) {
	openssl := needTool(t, "openssl")
	for _, tc := range []struct {
		name   string
		args   []string
		alg    string
		header string
	}{
		{"genpkey ed25519", []string{"genpkey", "-algorithm", "ed25519"}, "ed25519", "-----BEGIN PRIVATE KEY-----"},
		{"genpkey EC P-256", []string{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}, "ecdsa-p256", "-----BEGIN PRIVATE KEY-----"},
		{"ecparam prime256v1 SEC1", []string{"ecparam", "-genkey", "-name", "prime256v1"}, "ecdsa-p256", "-----BEGIN EC PRIVATE KEY-----"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keyFile := opensslKey(t, openssl, tc.args...)
			pemBytes, err := os.ReadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(pemBytes, []byte(tc.header)) {
				t.Fatalf("openssl wrote no %s block:\n%s", tc.header, firstLine(pemBytes))
			}
			dir := t.TempDir()
			pubDER := filepath.Join(dir, "pub.der")
			if b, err := exec.Command(openssl, "pkey", "-in", keyFile, "-pubout", "-outform", "DER", "-out", pubDER).CombinedOutput(); err != nil {
				t.Fatalf("openssl pkey: %v\n%s", err, b)
			}
			wantDER, err := os.ReadFile(pubDER)
			if err != nil {
				t.Fatal(err)
			}

			kr := newFakeKeyring()
			s := NewStore(kr)
			info, err := s.Import("from-openssl", pemBytes)
			if err != nil {
				t.Fatal(err)
			}
			if info.Alg != tc.alg {
				t.Fatalf("alg %s, want %s", info.Alg, tc.alg)
			}
			if want := keyIDOfDER(wantDER); info.KeyID != want {
				t.Fatalf("keyid %s, openssl's public key gives %s", info.KeyID, want)
			}
			pub, err := s.Public("from-openssl")
			if err != nil {
				t.Fatal(err)
			}
			gotDER, err := ExportPublic(pub, "der", "")
			if err != nil || !bytes.Equal(gotDER, wantDER) {
				t.Fatalf("exported DER differs from openssl's (%v)", err)
			}
			// ResolvePublic on the private key file gives the same key.
			if p2, err := ResolvePublic(keyFile, nil); err != nil || !reflect.DeepEqual(p2, pub) {
				t.Fatalf("ResolvePublic(private key file) = %v", err)
			}

			// What otactl stored, openssl reads back as the same key.
			stored, _ := kr.raw(Service, "key:from-openssl")
			storedFile := filepath.Join(dir, "stored.pem")
			if err := os.WriteFile(storedFile, []byte(stored), 0o600); err != nil {
				t.Fatal(err)
			}
			againDER := filepath.Join(dir, "again.der")
			if b, err := exec.Command(openssl, "pkey", "-in", storedFile, "-pubout", "-outform", "DER", "-out", againDER).CombinedOutput(); err != nil {
				t.Fatalf("openssl cannot read the stored key: %v\n%s", err, b)
			}
			if b, _ := os.ReadFile(againDER); !bytes.Equal(b, wantDER) {
				t.Fatal("stored key has another public key")
			}

			// A signature made with the stored key verifies with openssl.
			signer, err := s.Signer("from-openssl")
			if err != nil {
				t.Fatal(err)
			}
			opensslVerifies(t, openssl, signer, pub, dir)
		})
	}
}

// keyIDOfDER is the key id of docs/protocol.md#signatures, from openssl's
// DER.
func keyIDOfDER(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}

// opensslVerifies signs a release digest with signer as release.Sign does
// and checks the signature with openssl.
func opensslVerifies(t *testing.T, openssl string, signer crypto.Signer, pub crypto.PublicKey, dir string) {
	t.Helper()
	digest := sha256.Sum256([]byte("ota-release-digest-v1\nsequenceNumber 1\n"))
	var sig []byte
	var err error
	var args []string
	pubPEM, err := ExportPublic(pub, "pem", "")
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(dir, "verify-pub.pem")
	msgFile := filepath.Join(dir, "digest.bin")
	sigFile := filepath.Join(dir, "sig.bin")
	switch pub.(type) {
	case ed25519.PublicKey:
		sig, err = signer.Sign(rand.Reader, digest[:], crypto.Hash(0))
		args = []string{"pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-rawin", "-in", msgFile, "-sigfile", sigFile}
	case *ecdsa.PublicKey:
		h := sha256.Sum256(digest[:])
		sig, err = signer.Sign(rand.Reader, h[:], crypto.SHA256)
		args = []string{"dgst", "-sha256", "-verify", pubFile, "-signature", sigFile, msgFile}
	}
	if err != nil {
		t.Fatal(err)
	}
	for f, b := range map[string][]byte{pubFile: pubPEM, msgFile: digest[:], sigFile: sig} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(openssl, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verified") {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args[:2], " "), err, out)
	}
	// And a flipped bit does not.
	sig[len(sig)-1] ^= 1
	if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(openssl, args...).CombinedOutput(); err == nil {
		t.Fatalf("openssl verified a damaged signature:\n%s", out)
	}
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return string(line)
}

// TestNotPEMMessagesSurviveRedaction: the errors for a file that holds no
// PEM key say so whole, where a quoted BEGIN line made Redact (every
// error's last guard) cut the message from there on.
func TestNotPEMMessagesSurviveRedaction(t *testing.T) {
	_, errPriv := ParsePrivatePEM([]byte("not a key\n"))
	_, errPub := ParsePublicPEM([]byte("not a key\n"))
	for _, err := range []error{errPriv, errPub} {
		if err == nil || Redact(err.Error()) != err.Error() || !strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("%v: redacted to %q", err, Redact(fmt.Sprint(err)))
		}
	}
}
