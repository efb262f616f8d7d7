package testbroker

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// NATSServerModule is the nats-server release the tests run against;
// scripts/test installs it with `go install NATSServerModule`.
const NATSServerModule = "github.com/nats-io/nats-server/v2@v2.15.2"

// NATSPath is where nats-server is looked for: on PATH, else in
// $(go env GOPATH)/bin, where `go install` puts it.
func NATSPath() string {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin", "nats-server")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// RequireNATS skips t when nats-server is missing, or fails it when
// OTACTL_TEST_REQUIRE_REAL=1.
func RequireNATS(t testing.TB) {
	t.Helper()
	if NATSPath() != "" {
		return
	}
	if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
		t.Fatalf("nats-server is required (OTACTL_TEST_REQUIRE_REAL=1) but missing; hint: go install %s", NATSServerModule)
	}
	t.Skipf("nats-server is missing (go install %s)", NATSServerModule)
}

// writeConfig writes a configuration file for a test's server.
func writeConfig(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
