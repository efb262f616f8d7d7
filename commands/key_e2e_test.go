package commands

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testsecrets"
	"github.com/otactl/otactl/keys"
)

// TestKeyringEndToEnd runs the key commands and signing against a real
// Secret Service. It needs the throwaway gnome-keyring that
// scripts/test-in-session starts (GNOME_KEYRING_CONTROL set), so that it
// never touches a developer's own keyring.
func TestKeyringEndToEnd(t *testing.T) {
	t.Parallel()
	requireReal(t, "a throwaway Secret Service (run under scripts/test)",
		os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" && os.Getenv("GNOME_KEYRING_CONTROL") != "")
	dir := t.TempDir()
	name := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	t.Cleanup(func() { runOtactl(t, dir, nil, "", "key", "delete", name) })

	r := runOtactl(t, dir, nil, "", "key", "generate", name, "--alg", "ecdsa-p256", "-o", "json")
	if r.code != 0 {
		t.Fatalf("key generate: exit %d\n%s", r.code, r.stderr)
	}
	// The key the binary stored: no later run may print it.
	stored, err := keys.NewStore(keys.SystemKeyring()).Signer(name)
	if err != nil {
		t.Fatalf("read the generated key from the keyring: %v", err)
	}
	testsecrets.RegisterKey(t, "keyring key "+name, stored)
	var info struct{ Name, Alg, KeyID string }
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.Alg != "ecdsa-p256" || len(info.KeyID) != 16 {
		t.Fatalf("key generate -o json: %q %v", r.stdout, err)
	}
	r = runOtactl(t, dir, nil, "", "key", "list")
	if r.code != 0 || !strings.Contains(r.stdout, name) || !strings.Contains(r.stdout, info.KeyID) {
		t.Fatalf("key list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runOtactl(t, dir, nil, "", "key", "generate", name)
	if r.code != 1 {
		t.Errorf("generating an existing name: exit %d, want 1\n%s", r.code, r.stderr)
	}
	writeRandom(t, filepath.Join(dir, "app.bin"), 1000)
	r = runOtactl(t, dir, nil, "", "release", "create", "-c", "main@2.0.0=app.bin", "--sign", name, "--out", "r.json")
	if r.code != 0 {
		t.Fatalf("create --sign %s: exit %d\n%s", name, r.code, r.stderr)
	}
	if r = runOtactl(t, dir, nil, "", "key", "export", name, "--out", "pub.pem"); r.code != 0 {
		t.Fatalf("key export: exit %d\n%s", r.code, r.stderr)
	}
	if pem := mustRead(t, filepath.Join(dir, "pub.pem")); !strings.Contains(pem, "BEGIN PUBLIC KEY") || strings.Contains(pem, "PRIVATE") {
		t.Fatalf("exported key is not a public PEM:\n%s", pem)
	}
	// Both the exported file and the keyring name verify the signature.
	for _, ref := range []string{"pub.pem", name} {
		if r = runOtactl(t, dir, nil, "", "release", "verify", "r.json", "--pubkey", ref); r.code != 0 {
			t.Errorf("verify with %s: exit %d\n%s", ref, r.code, r.stderr)
		}
	}
	// The completion offers the key by name.
	r = runOtactl(t, dir, nil, "", "__complete", "release", "create", "--sign", "e2e-")
	if !strings.Contains(r.stdout, name) {
		t.Errorf("completion of --sign lacks %s:\n%s", name, r.stdout)
	}
	if r = runOtactl(t, dir, nil, "", "key", "delete", name); r.code != 0 {
		t.Fatalf("key delete: exit %d\n%s", r.code, r.stderr)
	}
	if r = runOtactl(t, dir, nil, "", "key", "list"); strings.Contains(r.stdout, name) {
		t.Errorf("deleted key still listed:\n%s", r.stdout)
	}
}

// TestKeyringUnavailable checks the message for a session without a
// Secret Service: one clear line and a hint to use file: or env:.
func TestKeyringUnavailable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runOtactl(t, dir, []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(dir, "no-bus")}, "", "release", "create", "-c", "main@1.0.0=x", "--sign", "somekey")
	if r.code != 1 || !strings.Contains(r.stderr, "keyring") || !strings.Contains(r.stderr, "hint:") || !strings.Contains(r.stderr, "env:") {
		t.Errorf("exit %d, want 1 with a hint to use file: or env:\n%s", r.code, r.stderr)
	}
}
