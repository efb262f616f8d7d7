package commands

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	b := build{Version: "v1.4.0", Commit: "3ca7f7161e2b9d0c", Date: "2026-12-01T00:00:00Z", Modified: true, Go: "go1.26.8", OS: "linux", Arch: "arm64"}
	if got, want := b.String(), "otactl v1.4.0 (commit 3ca7f7161e2b, modified, built 2026-12-01T00:00:00Z, go1.26.8 linux/arm64)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}

	e := newPubEnv(t)
	line := e.must(0, "version")
	if flag := e.must(0, "--version"); flag != line {
		t.Errorf("--version printed %q, version %q", flag, line)
	}
	var j build
	if err := json.Unmarshal([]byte(e.must(0, "version", "-o", "json")), &j); err != nil {
		t.Fatal(err)
	}
	if j.Version == "" || j.Commit == "" || j.Date == "" || j.Go == "" || j.OS == "" || j.Arch == "" {
		t.Errorf("version -o json leaves a field empty: %+v", j)
	}
	if line != j.String()+"\n" {
		t.Errorf("version printed %q, its JSON says %q", line, j.String())
	}
	if !strings.HasPrefix(line, "otactl "+j.Version+" (commit ") {
		t.Errorf("version printed %q", line)
	}
}
