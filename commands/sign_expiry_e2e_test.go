package commands

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/keys"
)

// TestSignRefusesExpiredManifest is point 8: `release sign` re-signed an
// expired manifest without a word. It exits 3 naming the expiry, and
// --expires gives the manifest a new one.
func TestSignRefusesExpiredManifest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opensslKey(t, dir, "ed.pem", "-algorithm", "ed25519")
	writeRandom(t, filepath.Join(dir, "fw.bin"), 100)
	old := []string{"SOURCE_DATE_EPOCH=1700000000"} // 2023-11-14T22:13:20Z
	if r := runOtactl(t, dir, old, "", "release", "create", "-c", "main@1.0.0=fw.bin", "--sequence", "3", "--expires", "1h", "--sign", "file:ed.pem", "--out", "r.json"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	before := mustRead(t, filepath.Join(dir, "r.json"))
	r := runOtactl(t, dir, nil, "", "release", "sign", "r.json", "--key", "file:ed.pem")
	if r.code != ExitVerification || !strings.Contains(r.stderr, "manifest expired at 2023-11-14T23:13:20Z") || !strings.Contains(r.stderr, "hint: give it a new expiry with --expires") {
		t.Errorf("sign of an expired manifest: exit %d, stderr %q", r.code, keys.Redact(r.stderr))
	}
	if after := mustRead(t, filepath.Join(dir, "r.json")); after != before {
		t.Error("the refused sign rewrote the manifest")
	}
	r = runOtactl(t, dir, nil, "", "release", "sign", "r.json", "--key", "file:ed.pem", "--expires", "720h")
	if r.code != 0 || !strings.Contains(r.stderr, "dropped 1 signature") {
		t.Fatalf("sign --expires: exit %d, stderr %q", r.code, keys.Redact(r.stderr))
	}
	if r := runOtactl(t, dir, nil, "", "key", "export", "file:ed.pem", "--out", "ed.pub"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := runOtactl(t, dir, nil, "", "release", "verify", "r.json", "--pubkey", "ed.pub"); r.code != 0 {
		t.Errorf("verify after sign --expires: exit %d %s", r.code, keys.Redact(r.stderr))
	}
	if r := runOtactl(t, dir, nil, "", "release", "sign", "r.json", "--key", "file:ed.pem", "--expires", "2020-01-01T00:00:00Z"); r.code != ExitUsage {
		t.Errorf("sign --expires in the past: exit %d %s", r.code, keys.Redact(r.stderr))
	}
}
