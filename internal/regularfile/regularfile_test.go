//go:build unix

package regularfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nullDevice makes a character device like /dev/null (1,3) in a test's own
// folder; it needs root.
func nullDevice(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "null")
	if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, int(mkdev(1, 3))); err != nil {
		if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
			t.Fatalf("mknod (root needed): %v", err)
		}
		t.Skipf("mknod (root needed): %v", err)
	}
	return p
}

func mkdev(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | minor&0xff | (major&^0xfff)<<32 | (minor&^0xff)<<12
}

func fifo(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// within fails the test if f does not return within d: a FIFO must never
// make us wait.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still blocked after %v", d)
	}
}

// onlyFiles fails the test if dir holds anything but the names given: no
// temporary file may be left behind.
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("folder holds %v, want %v", got, names)
	}
}

func umask() fs.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return fs.FileMode(m)
}

func TestWriteNewAndExisting(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.json")
	if err := Write(p, []byte("one"), Options{}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if want := 0o644 &^ umask(); st.Mode().Perm() != want {
		t.Fatalf("new file mode %v, want %v", st.Mode().Perm(), want)
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two"), Options{}); err != nil {
		t.Fatal(err)
	}
	st, _ = os.Stat(p)
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("rewritten file mode %v, want the old 0640", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	// Private: 0600 even over a readable file.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("secret"), Options{Private: true}); err != nil {
		t.Fatal(err)
	}
	st, _ = os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("private file mode %v, want 0600", st.Mode().Perm())
	}
	onlyFiles(t, dir, "out.json")
}

func TestWriteFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "sub", "real.json")
	if err := os.Mkdir(filepath.Dir(real), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("sub/real.json", link); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, []byte("new"), Options{}); err != nil {
		t.Fatal(err)
	}
	lst, err := os.Lstat(link)
	if err != nil || lst.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", lst.Mode(), err)
	}
	if b, _ := os.ReadFile(real); string(b) != "new" {
		t.Fatalf("target holds %q, want new", b)
	}
	if st, _ := os.Stat(real); st.Mode().Perm() != 0o600 {
		t.Fatalf("target mode %v, want the old 0600", st.Mode().Perm())
	}
	onlyFiles(t, filepath.Dir(real), "real.json")

	// A link to nothing is refused, and nothing is created.
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink("missing.json", dangling); err != nil {
		t.Fatal(err)
	}
	err = Write(dangling, []byte("x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("dangling link: %v", err)
	}
	onlyFiles(t, dir, "dangling", "link.json", "sub")
}

func TestWriteRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	dev := nullDevice(t, dir)
	ff := fifo(t, dir)
	sub := filepath.Join(dir, "folder")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	devLink := filepath.Join(dir, "devlink")
	if err := os.Symlink(dev, devLink); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, kind string }{
		{dev, "(character device)"},
		{ff, "(named pipe (FIFO))"},
		{sub, "(directory)"},
		{devLink, "symbolic link to " + dev + ", a character device"},
	} {
		var err error
		within(t, 5*time.Second, func() { err = Write(tc.path, []byte("x"), Options{}) })
		var nr *NotRegularError
		if !errors.As(err, &nr) || !strings.Contains(err.Error(), tc.path+": not a regular file") || !strings.Contains(err.Error(), tc.kind) {
			t.Errorf("write %s: %v, want not a regular file %s", tc.path, err, tc.kind)
		}
		if _, err := Check(tc.path, Options{}); !errors.As(err, &nr) {
			t.Errorf("check %s: %v", tc.path, err)
		}
	}
	st, err := os.Lstat(dev)
	if err != nil || st.Mode()&fs.ModeCharDevice == 0 {
		t.Fatalf("the device node was replaced: %v %v", st.Mode(), err)
	}
	if st, _ := os.Lstat(ff); st.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v", st.Mode())
	}
	onlyFiles(t, dir, "devlink", "fifo", "folder", "null")
}

func TestWriteNoClobber(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.bin")
	if err := Write(p, []byte("first"), Options{NoClobber: true}); err != nil {
		t.Fatal(err)
	}
	err := Write(p, []byte("second"), Options{NoClobber: true})
	var ee *ExistsError
	if !errors.As(err, &ee) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want an ExistsError", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "first" {
		t.Fatalf("content %q, want first", b)
	}
	// A file that appears while the data is written is not replaced either.
	q := filepath.Join(dir, "b.bin")
	err = WriteStream(q, Options{NoClobber: true}, func(w io.Writer) (bool, error) {
		if err := os.WriteFile(q, []byte("theirs"), 0o644); err != nil {
			return false, err
		}
		_, err := w.Write([]byte("ours"))
		return true, err
	})
	if !errors.As(err, &ee) {
		t.Fatalf("racing write: %v, want an ExistsError", err)
	}
	if b, _ := os.ReadFile(q); string(b) != "theirs" {
		t.Fatalf("content %q, want theirs", b)
	}
	onlyFiles(t, dir, "a.bin", "b.bin")
}

func TestWriteStreamFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteStream(p, Options{}, func(w io.Writer) (bool, error) {
		w.Write([]byte("half"))
		return false, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if err := WriteStream(p, Options{}, func(w io.Writer) (bool, error) { return false, nil }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("content %q, want old", b)
	}
	onlyFiles(t, dir, "out.bin")
	if err := Write(filepath.Join(dir, "missing", "x"), nil, Options{}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing folder: %v", err)
	}
}

func TestWriteRefusesForeignLinkInStickyFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own a link as another user")
	}
	dir := t.TempDir()
	shared := filepath.Join(dir, "tmp")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(shared, "out.json")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, []byte("x"), Options{}); err == nil || !strings.Contains(err.Error(), "not followed") {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("victim holds %q", b)
	}
	// The user's own link there is followed.
	if err := os.Lchown(link, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, []byte("x"), Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	dev := nullDevice(t, dir)
	ff := fifo(t, dir)
	reg := filepath.Join(dir, "reg")
	if err := os.WriteFile(reg, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	ffLink := filepath.Join(dir, "fifolink")
	if err := os.Symlink("fifo", ffLink); err != nil {
		t.Fatal(err)
	}
	regLink := filepath.Join(dir, "reglink")
	if err := os.Symlink("reg", regLink); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dev, ff, dir, ffLink} {
		within(t, 5*time.Second, func() {
			f, err := Open(p)
			var nr *NotRegularError
			if !errors.As(err, &nr) {
				t.Errorf("open %s: %v, want not a regular file", p, err)
			}
			if f != nil {
				f.Close()
			}
			if _, err := ReadFile(p, 0); !errors.As(err, &nr) {
				t.Errorf("read %s: %v", p, err)
			}
		})
	}
	if _, err := ReadFile(ffLink, 0); err == nil || !strings.Contains(err.Error(), "symbolic link to "+ff) {
		t.Errorf("link to FIFO: %v", err)
	}
	b, err := ReadFile(regLink, 5)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read through link: %q %v", b, err)
	}
	var tl *TooLargeError
	if _, err := ReadFile(reg, 4); !errors.As(err, &tl) {
		t.Fatalf("limit: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

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
