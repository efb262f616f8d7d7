//go:build linux

// Package tmpfs mounts small tmpfs file systems for tests that need a disk
// that fills up, such as a broker's data folder. Mounting needs root.
package tmpfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size (e.g. "6m") on a new folder inside the
// test's temporary folder and returns its path. It is unmounted when the
// test ends, after everything registered later (a broker using it) is
// done. Where it cannot be mounted (not root) the test is skipped, or
// fails under OTACTL_TEST_REQUIRE_REAL=1.
func Mount(t testing.TB, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
			t.Fatalf("mount a %s tmpfs (needs root; OTACTL_TEST_REQUIRE_REAL=1): %v", size, err)
		}
		t.Skipf("cannot mount a %s tmpfs (needs root): %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}
