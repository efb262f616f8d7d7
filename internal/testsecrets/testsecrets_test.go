package testsecrets

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testkeys"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	errors []string
	fatal  bool
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
	r.fatal = true
}

func privatePEM(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	return pemText(t, "PRIVATE KEY", der, err)
}

func publicPEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	return pemText(t, "PUBLIC KEY", der, err)
}

// pemText is der in a PEM block of type typ; err is marshalling's error.
func pemText(t *testing.T, typ string, der []byte, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// TestFindsEveryFormOfAKey registers keys and finds them in each form a
// leak could take, but not in their public parts.
func TestFindsEveryFormOfAKey(t *testing.T) {
	edKey, ecKey := testkeys.Ed25519(t), testkeys.P256(t)
	ecD, _ := ecKey.Bytes()
	ecPoint, _ := ecKey.PublicKey.Bytes()
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	sec1PEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	RegisterKey(t, "ed key", edKey)
	RegisterPEM(t, "ec key", []byte(sec1PEM))

	edPEM := privatePEM(t, edKey)
	ecPEM := privatePEM(t, ecKey)
	bodyLine := func(p string, i int) string { return strings.Split(p, "\n")[i] }
	for _, tc := range []struct{ name, out, want string }{
		{"ed PEM", "error: " + edPEM, "ed key"},
		{"ed PEM body line", "signing key " + bodyLine(edPEM, 1) + ": bad", "ed key"},
		{"ed PEM on one line", strings.ReplaceAll(edPEM, "\n", `\n`), "ed key"},
		{"ed PEM in base64", base64.StdEncoding.EncodeToString([]byte(edPEM)), "ed key"},
		{"ed seed in hex", hex.EncodeToString(edKey.Seed()), "ed key"},
		{"ed seed in base64", base64.StdEncoding.EncodeToString(edKey.Seed()), "ed key"},
		{"ec PKCS#8 PEM", ecPEM, "ec key"},
		{"ec PKCS#8 first line", bodyLine(ecPEM, 1), "ec key"},
		{"ec PKCS#8 second line", bodyLine(ecPEM, 2), "ec key"},
		{"ec SEC1 first line", bodyLine(sec1PEM, 1), "ec key"},
		{"ec scalar in hex", "d=" + hex.EncodeToString(ecD), "ec key"},
		{"ed public key", publicPEM(t, edKey.Public()), ""},
		{"ec public key", publicPEM(t, ecKey.Public()), ""},
		{"ec public point in hex", hex.EncodeToString(ecPoint), ""},
		{"ec PKCS#8 last line (the public key)", bodyLine(ecPEM, 3), ""},
		{"ec SEC1 last line (the public key)", bodyLine(sec1PEM, 3), ""},
		{"ordinary output", "wrote release.json: sequence 1, 1 component, 1 signature", ""},
	} {
		got := strings.Join(Find(tc.out), ",")
		if got != tc.want {
			t.Errorf("%s: found %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestCheckNamesTheLabelNotTheSecret is a deliberate leak: Check must
// catch it, name the label and not repeat the secret.
func TestCheckNamesTheLabelNotTheSecret(t *testing.T) {
	const pw = "correct-horse-battery-7f3a"
	Register(t, "broker password of ops", pw)
	r := &recorder{TB: t}
	Check(r, "otactl login", "no secret here", "password for ops is "+pw+"\n")
	if len(r.errors) != 1 {
		t.Fatalf("Check reported %d failures, want 1: %q", len(r.errors), r.errors)
	}
	if !strings.Contains(r.errors[0], "broker password of ops") || !strings.Contains(r.errors[0], "otactl login") {
		t.Errorf("the failure does not name the label and the command: %q", r.errors[0])
	}
	if strings.Contains(r.errors[0], pw) {
		t.Error("the failure repeats the secret")
	}
	r = &recorder{TB: t}
	Check(r, "otactl login", "logged in: ops on mqtt://127.0.0.1:1883")
	if len(r.errors) != 0 {
		t.Errorf("Check reported clean output: %q", r.errors)
	}
}

func TestRegisterRefusesShortSecrets(t *testing.T) {
	r := &recorder{TB: t}
	Register(r, "short", "pw")
	if !r.fatal {
		t.Error("a 2-byte secret was accepted")
	}
	if labels := Find("pw"); len(labels) != 0 {
		t.Errorf("a refused secret is looked for: %q", labels)
	}
}

// TestSecretsFile checks the file the suite's scan reads: what Register
// and Observe write, ReadFile reads back, and Scanner finds.
func TestSecretsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets")
	t.Setenv(FileEnv, path)
	Register(t, "tab\tin label", "a-password-with\nnewline")
	Observe("keyring entry", "another-stored-password")
	Observe("short keyring entry", "pw")
	sc, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Len() != 2 {
		t.Errorf("%d secrets in the file, want 2", sc.Len())
	}
	got := sc.Find([]byte("x a-password-with\nnewline y another-stored-password"))
	if strings.Join(got, ",") != "tab in label,keyring entry" {
		t.Errorf("Find = %q", got)
	}
	if got := sc.Find([]byte("pw")); len(got) != 0 {
		t.Errorf("Find(pw) = %q", got)
	}
	if err := os.WriteFile(path, []byte("no tab here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil {
		t.Error("a malformed secrets file was read")
	}
	if sc, err := ReadFile(filepath.Join(t.TempDir(), "none")); err != nil || sc.Len() != 0 {
		t.Errorf("missing file: %v, %d secrets", err, sc.Len())
	}
}
