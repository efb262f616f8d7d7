//go:build cgo

package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/asn1"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/softhsm"
)

// newToken makes a SoftHSM2 token with an ECDSA P-256 key "release" (id
// 01), an Ed25519 key "ed" (id 02) and an RSA key "rsa" (id 03), and
// unloads the module when the test ends, so that the next test's token
// folder is read afresh.
func newToken(t *testing.T) *softhsm.Token {
	tok := softhsm.New(t, "otactl-test", "1234")
	t.Cleanup(unloadModules)
	tok.GenerateEC("release", "01")
	tok.GenerateEd25519("ed", "02")
	tok.GenerateRSA("rsa", "03")
	return tok
}

// unloadModules finalises every loaded module (tests only).
func unloadModules() {
	modules.Lock()
	defer modules.Unlock()
	for path, c := range modules.m {
		_ = c.Finalize()
		c.Destroy()
		delete(modules.m, path)
	}
}

// tokenEnv is an environment with the module and, when pin is not
// empty, the PIN.
func tokenEnv(tok *softhsm.Token, pin string) func(string) string {
	return func(k string) string {
		switch k {
		case PKCS11ModuleEnv:
			return tok.Module
		case PKCS11PinEnv:
			return pin
		}
		return ""
	}
}

// readPublic reads the PEM public key file openssl wrote.
func readPublic(t *testing.T, path string) crypto.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestPKCS11SignsOnTheToken(t *testing.T) {
	tok := newToken(t)

	ec, err := ResolveSigner("pkcs11:token=otactl-test;object=release", nil, tokenEnv(tok, "1234"))
	if err != nil {
		t.Fatal(err)
	}
	want := readPublic(t, tok.PublicPEM("release")).(*ecdsa.PublicKey)
	if !want.Equal(ec.Public()) {
		t.Fatal("the token key's public key is not the one pkcs11-tool exports")
	}
	checkSigns(t, ec, want)

	// Ed25519 through CKM_EDDSA, found by id alone; the PIN from a file.
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte("1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ed, err := ResolveSigner("pkcs11:token=otactl-test;id=%02?pin-source=file:"+pinFile, nil, tokenEnv(tok, ""))
	if err != nil {
		t.Fatal(err)
	}
	edPub := readPublic(t, tok.PublicPEM("ed")).(ed25519.PublicKey)
	if !edPub.Equal(ed.Public()) {
		t.Fatal("the token's Ed25519 public key is not the one pkcs11-tool exports")
	}
	checkSigns(t, ed, edPub)

	// A key that wants the PIN at every signature signs twice.
	tok.GenerateECAlwaysAuth("always", "04")
	aa, err := ResolveSigner("pkcs11:token=otactl-test;object=always", nil, tokenEnv(tok, "1234"))
	if err != nil {
		t.Fatal(err)
	}
	checkSigns(t, aa, aa.Public())
	checkSigns(t, aa, aa.Public())

	// The public key alone needs no PIN.
	pub, err := ResolvePublicEnv("pkcs11:object=release", nil, tokenEnv(tok, ""))
	if err != nil {
		t.Fatal(err)
	}
	if !want.Equal(pub) {
		t.Fatal("ResolvePublicEnv gave another key")
	}
}

func TestPKCS11Refuses(t *testing.T) {
	tok := newToken(t)
	missingPin := filepath.Join(t.TempDir(), "no-pin")
	for _, tc := range []struct {
		name, ref, pin string
		want           []string
	}{
		{"wrong PIN", "pkcs11:token=otactl-test;object=release", "9999", []string{`token "otactl-test" key "release": wrong PIN`}},
		{"no PIN", "pkcs11:token=otactl-test;object=release", "", []string{"needs its user PIN"}},
		{"missing object", "pkcs11:token=otactl-test;object=nope", "1234", []string{`token "otactl-test" key "nope": no such private key`}},
		{"missing object, token found", "pkcs11:object=nope", "1234", []string{`token "otactl-test" key "nope": no such private key`}},
		{"missing token", "pkcs11:token=other;object=release", "1234", []string{`token "other" key "release": no such token (tokens present: "otactl-test")`}},
		{"pin-value", "pkcs11:token=otactl-test;object=release?pin-value=s3cret-PIN", "", []string{"pin-value is refused"}},
		{"pin-source missing", "pkcs11:token=otactl-test;object=release?pin-source=" + missingPin, "", []string{"read the pin-source file: no such file"}},
		{"rsa", "pkcs11:token=otactl-test;object=rsa", "1234", []string{"neither ECDSA P-256 nor Ed25519"}},
		{"no key named", "pkcs11:token=otactl-test", "1234", []string{"names no key"}},
		{"module-name", "pkcs11:object=release?module-name=softhsm2", "1234", []string{"module-name is not supported"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ResolveSigner(tc.ref, nil, tokenEnv(tok, tc.pin))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			// The query (where the PIN is) and the PIN are never shown.
			for _, secret := range []string{"s3cret-PIN", missingPin, "9999", "1234", "?"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows %q", err, secret)
				}
			}
		})
	}
}

func TestPKCS11ModuleMissing(t *testing.T) {
	_, err := ResolveSigner("pkcs11:object=release", nil, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), `pkcs11 key "release": no PKCS#11 module given`) {
		t.Fatalf("err = %v", err)
	}
	_, err = ResolveSigner("pkcs11:object=release?module-path="+filepath.Join(t.TempDir(), "nope.so"), nil, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "nope.so: no such file") {
		t.Fatalf("err = %v", err)
	}
}

func TestListPKCS11(t *testing.T) {
	tok := newToken(t)
	infos, err := ListPKCS11(tok.Module, tokenEnv(tok, ""))
	if err != nil {
		t.Fatal(err)
	}
	ecID := keyIDForTest(t, readPublic(t, tok.PublicPEM("release")))
	edID := keyIDForTest(t, readPublic(t, tok.PublicPEM("ed")))
	want := []Info{
		{Name: "pkcs11:token=otactl-test;object=ed;id=%02", Alg: AlgEd25519, KeyID: edID, Token: "otactl-test"},
		{Name: "pkcs11:token=otactl-test;object=release;id=%01", Alg: AlgECDSAP256, KeyID: ecID, Token: "otactl-test"},
		{Name: "pkcs11:token=otactl-test;object=rsa;id=%03", Alg: "unsupported", Token: "otactl-test"},
	}
	if len(infos) != len(want) {
		t.Fatalf("listed %v, want %v", infos, want)
	}
	for i := range want {
		if infos[i] != want[i] {
			t.Errorf("key %d: %+v, want %+v", i, infos[i], want[i])
		}
	}
	// Each listed name is a reference that signs.
	if _, err := ResolveSigner(infos[1].Name, nil, tokenEnv(tok, "1234")); err != nil {
		t.Fatalf("the listed URI does not resolve: %v", err)
	}
}

func TestTokenPublic(t *testing.T) {
	ec, _ := keyPEM(t, AlgECDSAP256)
	ecPub := ec.Public().(*ecdsa.PublicKey)
	point, err := ecPub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	ed, _ := keyPEM(t, AlgEd25519)
	edPub := ed.Public().(ed25519.PublicKey)
	octets := func(b []byte) []byte { d, _ := asn1.Marshal(b); return d }
	for _, tc := range []struct {
		name          string
		keyType       uint
		params, point []byte
		want          crypto.PublicKey
	}{
		{"P-256, DER", ckkEC, oidP256, octets(point), ecPub},
		{"P-256, raw", ckkEC, oidP256, point, ecPub},
		{"Ed25519, OID", ckkECEdwards, oidEd25519, octets(edPub), edPub},
		{"Ed25519, name, raw", ckkECEdwards, nameEd25519, edPub, edPub},
	} {
		got, err := tokenPublic(tc.keyType, tc.params, tc.point)
		if err != nil || !tc.want.(interface{ Equal(crypto.PublicKey) bool }).Equal(got) {
			t.Errorf("%s: %v, %v", tc.name, got, err)
		}
	}
	p384 := []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}
	if _, err := tokenPublic(ckkEC, p384, octets(point)); err == nil || !strings.Contains(err.Error(), "neither ECDSA P-256 nor Ed25519") {
		t.Errorf("P-384: %v", err)
	}
}
