// Package softhsm makes SoftHSM2 tokens for tests: a real PKCS#11 module
// whose token store lives in the test's temporary folder (SOFTHSM2_CONF
// points there, never at the system's token folder), with keys made by
// OpenSC's pkcs11-tool. Tests that need it skip when softhsm2 or opensc
// is not installed, unless OTACTL_TEST_REQUIRE_REAL=1 demands them.
package softhsm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Modules are where distributions install the SoftHSM2 module.
var Modules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// Token is an initialised SoftHSM2 token.
type Token struct {
	t      testing.TB
	Module string // the module's path
	Conf   string // the SOFTHSM2_CONF file
	Label  string
	PIN    string // the user PIN
}

// Module returns the SoftHSM2 module's path, or skips t (fails it under
// OTACTL_TEST_REQUIRE_REAL=1) when softhsm2 or pkcs11-tool is missing.
func Module(t testing.TB) string {
	t.Helper()
	var missing []string
	module := ""
	for _, m := range Modules {
		if _, err := os.Stat(m); err == nil {
			module = m
			break
		}
	}
	if module == "" {
		missing = append(missing, "the softhsm2 module (Debian package softhsm2)")
	}
	for _, tool := range []string{"softhsm2-util", "pkcs11-tool"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
			t.Fatalf("SoftHSM2 is required (OTACTL_TEST_REQUIRE_REAL=1) but missing: %s (install softhsm2 and opensc)", strings.Join(missing, ", "))
		}
		t.Skipf("SoftHSM2 is missing: %s (install softhsm2 and opensc)", strings.Join(missing, ", "))
	}
	return module
}

// New makes a token labelled label with user PIN pin in a folder of
// t.TempDir(), and sets SOFTHSM2_CONF for the test (so for the module
// loaded in this process and for programs it runs).
func New(t testing.TB, label, pin string) *Token {
	t.Helper()
	module := Module(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	text := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, ok := t.(interface{ Setenv(string, string) }); ok {
		s.Setenv("SOFTHSM2_CONF", conf)
	} else {
		t.Fatal("softhsm.New needs a *testing.T or *testing.B")
	}
	tok := &Token{t: t, Module: module, Conf: conf, Label: label, PIN: pin}
	tok.run("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "so-"+pin, "--pin", pin)
	return tok
}

// Env is the environment entry programs need to see the token.
func (k *Token) Env() string { return "SOFTHSM2_CONF=" + k.Conf }

// GenerateEC makes an ECDSA P-256 key pair labelled object with id (hex).
func (k *Token) GenerateEC(object, id string) { k.generate("EC:prime256v1", object, id) }

// GenerateEd25519 makes an Ed25519 key pair labelled object with id (hex).
func (k *Token) GenerateEd25519(object, id string) { k.generate("EC:edwards25519", object, id) }

// GenerateECAlwaysAuth makes an ECDSA P-256 key pair whose private key
// wants the PIN before every signature (CKA_ALWAYS_AUTHENTICATE), as a
// YubiKey's PIV slot 9c does.
func (k *Token) GenerateECAlwaysAuth(object, id string) {
	k.generate("EC:prime256v1", object, id, "--always-auth")
}

// GenerateRSA makes an RSA key pair, a kind otactl does not sign with.
func (k *Token) GenerateRSA(object, id string) { k.generate("rsa:2048", object, id) }

func (k *Token) generate(keyType, object, id string, extra ...string) {
	k.t.Helper()
	k.run("pkcs11-tool", append([]string{"--module", k.Module, "--token-label", k.Label, "--login", "--pin", k.PIN,
		"--keypairgen", "--key-type", keyType, "--label", object, "--id", id}, extra...)...)
}

// PublicPEM writes the public key of object to a PEM file in t.TempDir()
// with pkcs11-tool and openssl, independently of otactl.
func (k *Token) PublicPEM(object string) string {
	k.t.Helper()
	dir := k.t.TempDir()
	der := filepath.Join(dir, object+".pub.der")
	k.run("pkcs11-tool", "--module", k.Module, "--token-label", k.Label, "--read-object", "--type", "pubkey",
		"--label", object, "--output-file", der)
	pem := filepath.Join(dir, object+".pub.pem")
	inform := "DER"
	if b, err := os.ReadFile(der); err == nil && bytes.HasPrefix(b, []byte("-----BEGIN")) {
		inform = "PEM" // pkcs11-tool writes Ed25519 keys as PEM
	}
	k.run("openssl", "pkey", "-pubin", "-inform", inform, "-in", der, "-out", pem)
	return pem
}

func (k *Token) run(name string, args ...string) {
	k.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), k.Env())
	if out, err := cmd.CombinedOutput(); err != nil {
		k.t.Fatalf("%s %s: %v\n%s", name, args[0], err, out)
	}
}
