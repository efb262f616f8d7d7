package commands

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testbroker"
)

// TestArtifactDownloadStreams: a large artifact downloads to a file
// written atomically (streamed through a temporary file), or to standard
// output; a missing one leaves no file at all.
func TestArtifactDownloadStreams(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		e := newPubEnv(t)
		e.env["OTACTL_BROKER"] = b.URL
		app := pubRandom(t, 2<<20+3)
		e.must(0, "upload", "main@1.2.3", e.file("app.bin", app))
		sum := sha256.Sum256(app)

		dest := filepath.Join(e.dir, "dl", "main.bin")
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			t.Fatal(err)
		}
		_, errs, code := e.run("", "artifact", "download", "main@1.2.3", "-O", dest)
		if code != 0 || !strings.Contains(errs, fmt.Sprintf("main@1.2.3: %d bytes, sha256 %s", len(app), hex.EncodeToString(sum[:]))) {
			t.Fatalf("download: exit %d %q", code, errs)
		}
		if got, err := os.ReadFile(dest); err != nil || !bytes.Equal(got, app) {
			t.Fatalf("the downloaded file is not the artifact: %d bytes, %v", len(got), err)
		}
		if st, err := os.Stat(dest); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("mode: %v %v", st.Mode(), err)
		}
		out, _, code := e.run("", "artifact", "download", "main@1.2.3", "-O", "-")
		if code != 0 || out != string(app) {
			t.Fatalf("download to stdout: exit %d, %d bytes", code, len(out))
		}

		// Nothing there: an error, and no file, whole or temporary.
		missing := filepath.Join(e.dir, "dl", "missing.bin")
		_, errs, code = e.run("", "artifact", "download", "main@9.9.9", "-O", missing)
		if code != ExitError || !strings.Contains(errs, "not on the broker") {
			t.Errorf("missing artifact: exit %d %q", code, errs)
		}
		entries, _ := os.ReadDir(filepath.Dir(dest))
		if len(entries) != 1 {
			t.Errorf("the download folder holds %d entries, want main.bin only", len(entries))
		}
	})
}
