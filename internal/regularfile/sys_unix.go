//go:build unix

package regularfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// openNonblock opens path read-only without waiting: opening a FIFO that
// has no writer returns at once instead of blocking until one comes.
func openNonblock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}

// keepOwner gives f the owner and group of the file it replaces, where the
// process may (root may; others keep what they can).
func keepOwner(f *os.File, old fs.FileInfo) {
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	_ = f.Chown(int(st.Uid), int(st.Gid))
}

// checkLinkOwner refuses to follow a symbolic link that the kernel's
// fs.protected_symlinks would not follow: one in a sticky, world-writable
// folder (such as /tmp) whose owner is neither this user nor the folder's
// owner. Otherwise anyone could point a link there at a file of ours.
func checkLinkOwner(path string, link fs.FileInfo) error {
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	if dir.Mode()&fs.ModeSticky == 0 || dir.Mode().Perm()&0o002 == 0 {
		return nil
	}
	ls, ok1 := link.Sys().(*syscall.Stat_t)
	ds, ok2 := dir.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return nil
	}
	if ls.Uid == uint32(os.Geteuid()) || ls.Uid == ds.Uid {
		return nil
	}
	return fmt.Errorf("a symbolic link owned by another user in the shared folder %s: not followed", filepath.Dir(path))
}

// syncDir makes a rename in dir durable; a failure only weakens that.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}
