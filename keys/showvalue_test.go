package keys

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShowValueAndPastedForPath(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFhz9WmIvq3Zp0sK\n-----END PRIVATE KEY-----\n"
	hexName := strings.Repeat("ab12", 16)
	if ShowValue("build/app.bin") != "build/app.bin" || strings.Contains(ShowValue(pem), "MC4C") {
		t.Error("ShowValue shows key material, or hides a path")
	}
	if PastedForPath("release.json") || !PastedForPath(pem) || !PastedForPath(hexName) {
		t.Error("PastedForPath misjudges a path or a key")
	}
	// A folder named by a hash is still a path.
	dir := filepath.Join(t.TempDir(), hexName)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if PastedForPath(dir) {
		t.Errorf("PastedForPath(%q) of an existing folder", dir)
	}
}
