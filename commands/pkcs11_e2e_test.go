package commands

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/softhsm"
	"github.com/otactl/otactl/internal/testbroker"
)

// TestPKCS11EndToEnd signs releases with an ECDSA P-256 key on a SoftHSM2
// token through the built binary, and checks the signature with openssl
// and the token's public key as pkcs11-tool exports it.
func TestPKCS11EndToEnd(t *testing.T) {
	requireReal(t, "openssl", haveCommand("openssl"))
	tok := softhsm.New(t, "otactl-e2e", "4321")
	tok.GenerateEC("release", "01")
	pub := tok.PublicPEM("release")
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "app.bin"), 4096)
	if err := os.WriteFile(filepath.Join(dir, "pin.txt"), []byte("4321\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uri := "pkcs11:token=otactl-e2e;object=release"
	withModule := []string{tok.Env(), "OTACTL_PKCS11_MODULE=" + tok.Module}

	// The module from the environment, the PIN from pin-source.
	r := runOtactl(t, dir, withModule, "", "release", "create", "-c", "main@1.0.0=app.bin",
		"--sign", uri+"?pin-source=pin.txt", "--out", "r.json")
	if r.code != 0 {
		t.Fatalf("release create --sign pkcs11: exit %d\n%s", r.code, r.stderr)
	}
	var m wireManifest
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(dir, "r.json"))), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Signatures) != 1 || m.Signatures[0].Alg != "ecdsa-p256" {
		t.Fatalf("signatures: %+v", m.Signatures)
	}
	opensslCheckSignature(t, dir, m.Hash, m.Signatures[0], pub)
	if r = runOtactl(t, dir, nil, "", "release", "verify", "r.json", "--pubkey", pub, "app.bin"); r.code != 0 {
		t.Fatalf("release verify: exit %d\n%s", r.code, r.stderr)
	}

	// Ed25519 through CKM_EDDSA, checked by openssl too.
	tok.GenerateEd25519("ed", "02")
	r = runOtactl(t, dir, append(withModule, "OTACTL_PKCS11_PIN=4321"), "", "release", "create", "-c", "main@1.0.0=app.bin",
		"--sign", "pkcs11:token=otactl-e2e;object=ed", "--out", "r-ed.json")
	if r.code != 0 {
		t.Fatalf("release create --sign pkcs11 (ed25519): exit %d\n%s", r.code, r.stderr)
	}
	var med wireManifest
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(dir, "r-ed.json"))), &med); err != nil || len(med.Signatures) != 1 || med.Signatures[0].Alg != "ed25519" {
		t.Fatalf("ed25519 signatures: %+v %v", med.Signatures, err)
	}
	opensslCheckSignature(t, dir, med.Hash, med.Signatures[0], tok.PublicPEM("ed"))

	// The module from the profile, the PIN from OTACTL_PKCS11_PIN; the
	// listed URI is the one that signs, and key export gives the same key.
	env := []string{tok.Env(), "OTACTL_CONFIG=" + filepath.Join(dir, "config.json")}
	if r = runOtactl(t, dir, env, "", "config", "set", "pkcs11-module", tok.Module); r.code != 0 {
		t.Fatalf("config set pkcs11-module: exit %d\n%s", r.code, r.stderr)
	}
	r = runOtactl(t, dir, env, "", "key", "list", "-o", "json")
	listed := uri + ";id=%01"
	if r.code != 0 || !strings.Contains(r.stdout, `"name":"`+listed+`"`) || !strings.Contains(r.stdout, `"keyid":"`+m.Signatures[0].KeyID+`"`) {
		t.Fatalf("key list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Without an OS keyring the token keys are still listed, with a warning.
	r = runOtactl(t, dir, append(env, "DBUS_SESSION_BUS_ADDRESS="), "", "key", "list")
	if r.code != 0 || !strings.Contains(r.stdout, listed) || !strings.Contains(r.stderr, "warning: key list:") || !strings.Contains(r.stderr, "listing the token keys only") {
		t.Fatalf("key list without a keyring: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = runOtactl(t, dir, env, "", "key", "export", listed, "--out", "exported.pem"); r.code != 0 {
		t.Fatalf("key export: exit %d\n%s", r.code, r.stderr)
	}
	if got, want := mustRead(t, filepath.Join(dir, "exported.pem")), mustRead(t, pub); got != want {
		t.Errorf("key export gave\n%s\npkcs11-tool and openssl give\n%s", got, want)
	}
	pinEnv := append(env, "OTACTL_PKCS11_PIN=4321")
	if r = runOtactl(t, dir, pinEnv, "", "release", "sign", "r.json", "--sign", listed, "--out", "r2.json"); r.code != 0 {
		t.Fatalf("release sign --key pkcs11: exit %d\n%s", r.code, r.stderr)
	}
	if r = runOtactl(t, dir, nil, "", "release", "verify", "r2.json", "--pubkey", pub, "app.bin"); r.code != 0 {
		t.Fatalf("release verify after release sign: exit %d\n%s", r.code, r.stderr)
	}

	// Refused: a wrong PIN, a missing object (exit 1), pin-value (a URI
	// of the wrong form on the command line: exit 2). Each names the
	// token and the key, shows no PIN, and writes nothing.
	for _, tc := range []struct {
		name, ref, pin, want string
		code                 int
	}{
		{"wrong PIN", uri, "0000", `pkcs11 token "otactl-e2e" key "release": wrong PIN`, ExitError},
		{"missing object", "pkcs11:token=otactl-e2e;object=gone", "4321", `pkcs11 token "otactl-e2e" key "gone": no such private key on the token`, ExitError},
		{"pin-value", uri + "?pin-value=98765", "", "pin-value is refused", ExitUsage},
	} {
		r := runOtactl(t, dir, append(env, "OTACTL_PKCS11_PIN="+tc.pin), "", "release", "create", "-c", "main@1.0.1=app.bin",
			"--sign", tc.ref, "--out", "bad.json")
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, want %d saying %q\n%s", tc.name, r.code, tc.code, tc.want, r.stderr)
		}
		for _, secret := range []string{"0000", "4321", "98765"} {
			if strings.Contains(r.stderr+r.stdout, secret) {
				t.Errorf("%s: the output shows %q\n%s", tc.name, secret, r.stderr)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "bad.json")); err == nil {
			t.Errorf("%s: bad.json was written", tc.name)
		}
	}
}

// TestPKCS11Rollback: release rollback signs the new manifest on the
// token, loading the module of the profile --profile names (not the
// current one).
func TestPKCS11Rollback(t *testing.T) {
	tok := softhsm.New(t, "otactl-rb", "2468")
	tok.GenerateEC("release", "01")
	pub := tok.PublicPEM("release")
	b := testbroker.Start(t, testbroker.KindEmbedded)
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "app.bin"), 2048)
	env := []string{tok.Env(), "OTACTL_CONFIG=" + filepath.Join(dir, "config.json"), "OTACTL_PKCS11_PIN=2468"}
	for _, args := range [][]string{
		{"config", "set", "broker", b.URL, "--profile", "hsm"},
		{"config", "set", "pkcs11-module", tok.Module, "--profile", "hsm"},
		{"release", "create", "-c", "main@1.0.0=app.bin", "--sequence", "1000", "--out", "r1.json"},
		{"release", "create", "-c", "main@1.1.0=app.bin", "--sequence", "2000", "--out", "r2.json"},
		{"release", "publish", "r1.json", "app.bin", "--profile", "hsm"},
		{"release", "publish", "r2.json", "app.bin", "--profile", "hsm"},
		{"release", "rollback", "--to", "1000", "--sign", "pkcs11:token=otactl-rb;object=release", "--profile", "hsm"},
	} {
		if r := runOtactl(t, dir, env, "", args...); r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	r := runOtactl(t, dir, env, "", "release", "current", "--pubkey", pub, "--profile", "hsm", "-o", "json")
	var cur struct {
		Manifest wireManifest `json:"manifest"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &cur); r.code != 0 || err != nil || len(cur.Manifest.Signatures) != 1 || cur.Manifest.Components[0].Version != "1.0.0" {
		t.Fatalf("release current after the rollback: exit %d (%v)\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	opensslCheckSignature(t, dir, cur.Manifest.Hash, cur.Manifest.Signatures[0], pub)
	// The token key trusted by URI, with the module of --profile.
	r = runOtactl(t, dir, env, "", "release", "current", "--pubkey", "pkcs11:token=otactl-rb;object=release", "--profile", "hsm")
	if r.code != 0 || !strings.Contains(r.stdout, "1 valid signature") {
		t.Fatalf("release current --pubkey pkcs11: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
