//go:build unix

package regularfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAppend(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "summary.md")
	for _, part := range []string{"one\n", "two\n"} {
		if err := Append(p, []byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	// Through a symbolic link: the file it leads to grows, the link stays.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if err := Append(link, []byte("three\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one\ntwo\nthree\n" {
		t.Errorf("file holds %q", b)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}

	// Anything but a regular file is refused, a FIFO without blocking, and
	// nothing is written to a device node.
	var nr *NotRegularError
	for _, target := range []string{fifo(t, dir), nullDevice(t, dir), dir} {
		within(t, 5*time.Second, func() {
			if err := Append(target, []byte("x")); !errors.As(err, &nr) {
				t.Errorf("append to %s: %v, want a NotRegularError", target, err)
			}
		})
	}
	if err := Append(filepath.Join(dir, "missing", "f"), []byte("x")); err == nil {
		t.Error("append in a missing folder: no error")
	}
	onlyFiles(t, dir, "fifo", "link", "null", "summary.md")
}
