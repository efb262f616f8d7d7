// Package regularfile reads and writes regular files only. Reads refuse
// device nodes, FIFOs, sockets and directories without blocking on them;
// writes go to a temporary file in the target's folder, synced and renamed
// over the target, so that a file is either the old one or the whole new
// one, and a device node or a symbolic link is never replaced by a file.
package regularfile

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// NotRegularError says a path names something other than a regular file.
type NotRegularError struct {
	Path string
	// Target is where a symbolic link at Path leads, or "".
	Target string
	Mode   fs.FileMode
}

func (e *NotRegularError) Error() string {
	if e.Target != "" {
		return fmt.Sprintf("%s: not a regular file (symbolic link to %s, a %s)", e.Path, e.Target, Kind(e.Mode))
	}
	return fmt.Sprintf("%s: not a regular file (%s)", e.Path, Kind(e.Mode))
}

// ExistsError says a write that must not replace a file found one there.
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string { return e.Path + ": already exists" }

// Is makes errors.Is(err, fs.ErrExist) hold.
func (e *ExistsError) Is(target error) bool { return target == fs.ErrExist }

// Error is any other failure to write a file, naming the file.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fail(path string, err error) error { return &Error{Path: path, Err: unwrapPath(err)} }

// TooLargeError says a file is larger than a read allows.
type TooLargeError struct {
	Path  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: larger than %d bytes", e.Path, e.Limit)
}

// Kind names the type of file a mode describes: "directory", "character
// device", "named pipe (FIFO)" and so on.
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "not a file"
}

// Open opens a regular file for reading. Anything else (a directory, a
// device node, a FIFO, a socket), also behind a symbolic link, is a
// *NotRegularError, found without blocking: the path is checked before it
// is opened, opened non-blocking, and checked again on the open file.
func Open(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = "open" // as os.Open says it
		}
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, notRegular(path, st.Mode())
	}
	f, err := openNonblock(path)
	if err != nil {
		return nil, err
	}
	st, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(path, st.Mode())
	}
	return f, nil
}

// ReadFile reads a whole regular file, as Open does, and refuses one larger
// than limit bytes with a *TooLargeError (limit 0: no limit).
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if limit > 0 {
		r = io.LimitReader(f, limit+1)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if limit > 0 && int64(len(b)) > limit {
		return nil, &TooLargeError{Path: path, Limit: limit}
	}
	return b, nil
}

// notRegular builds the error for path, naming the link's target when path
// is a symbolic link.
func notRegular(path string, m fs.FileMode) error {
	e := &NotRegularError{Path: path, Mode: m}
	if lst, err := os.Lstat(path); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
		if t, err := filepath.EvalSymlinks(path); err == nil {
			e.Target = t
		} else if t, err := os.Readlink(path); err == nil {
			e.Target = t
		}
	}
	return e
}

// Options say how a file is written.
type Options struct {
	// Perm is the mode of a new file, less the umask; 0 means 0644. An
	// existing file keeps its mode.
	Perm fs.FileMode
	// Private makes the file 0600 (less the umask), new or not: for
	// secrets, such as a private key or a password file.
	Private bool
	// NoClobber refuses to replace an existing file: *ExistsError.
	NoClobber bool
}

// Target is where a write to path lands: path itself, or, when path is a
// symbolic link, the file it leads to (the link stays a link).
type Target struct {
	Path string      // the file to replace or create
	Info fs.FileInfo // the existing file; nil for a new one
}

// Check says where a write to path would land, and refuses what Write
// would refuse, before any work is done: a path that is or leads to
// something other than a regular file, a symbolic link to nothing, a
// symbolic link in a sticky world-writable folder owned by someone else
// (as the kernel's protected_symlinks refuses), a folder that does not
// exist, and with NoClobber an existing file.
func Check(path string, o Options) (Target, error) {
	if path == "" {
		return Target{}, errors.New("no file name given")
	}
	lst, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		dir := filepath.Dir(path)
		st, err := os.Stat(dir)
		if err != nil {
			return Target{}, fail(path, fmt.Errorf("folder %s: %w", dir, unwrapPath(err)))
		}
		if !st.IsDir() {
			return Target{}, fail(path, fmt.Errorf("%s is not a folder", dir))
		}
		return Target{Path: path}, nil
	}
	if err != nil {
		return Target{}, fail(path, err)
	}
	t := Target{Path: path, Info: lst}
	if lst.Mode()&fs.ModeSymlink != 0 {
		if err := checkLinkOwner(path, lst); err != nil {
			return Target{}, fail(path, err)
		}
		resolved, err := filepath.EvalSymlinks(path)
		if errors.Is(err, fs.ErrNotExist) {
			dest, _ := os.Readlink(path)
			return Target{}, fail(path, fmt.Errorf("symbolic link to %s, which does not exist", dest))
		}
		if err != nil {
			return Target{}, fail(path, err)
		}
		st, err := os.Stat(resolved)
		if err != nil {
			return Target{}, fail(path, err)
		}
		t = Target{Path: resolved, Info: st}
		if !st.Mode().IsRegular() {
			return Target{}, &NotRegularError{Path: path, Target: resolved, Mode: st.Mode()}
		}
	} else if !lst.Mode().IsRegular() {
		return Target{}, &NotRegularError{Path: path, Mode: lst.Mode()}
	}
	if o.NoClobber {
		return Target{}, &ExistsError{Path: path}
	}
	return t, nil
}

// Write writes data to path atomically, as WriteStream does.
func Write(path string, data []byte, o Options) error {
	return WriteStream(path, o, func(w io.Writer) (bool, error) {
		_, err := w.Write(data)
		return err == nil, err
	})
}

// WriteStream writes path through a temporary file in the folder of the
// file it lands on (see Check), filled by fill, synced, and renamed over
// that file only when fill reports it complete (true, nil). A failed or
// incomplete fill, or an error anywhere, leaves the old file (or none) and
// no temporary file. A symbolic link at path is followed: the file it leads
// to is replaced and the link stays. What Check refuses is refused before
// fill is called, and checked again just before the rename.
func WriteStream(path string, o Options, fill func(io.Writer) (bool, error)) (err error) {
	t, err := Check(path, o)
	if err != nil {
		return err
	}
	perm := o.Perm
	if perm == 0 {
		perm = 0o644
	}
	if o.Private {
		perm = 0o600
	}
	dir, base := filepath.Split(t.Path)
	if dir == "" {
		dir = "."
	}
	tmp, err := createTemp(dir, base, perm)
	if err != nil {
		return fail(path, fmt.Errorf("temporary file in %s: %w", dir, unwrapPath(err)))
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if t.Info != nil {
		// Keep the owner (where allowed) and the mode of the file replaced.
		keepOwner(tmp, t.Info)
		if !o.Private {
			if err := tmp.Chmod(t.Info.Mode().Perm()); err != nil {
				return fail(path, err)
			}
		}
	}
	bw := newBufferedWriter(tmp)
	complete, err := fill(bw)
	if err != nil {
		return err
	}
	if !complete {
		return nil
	}
	if err := bw.Flush(); err != nil {
		return fail(path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(path, err)
	}
	if err := tmp.Close(); err != nil {
		return fail(path, err)
	}
	if err := place(tmp.Name(), path, t, o); err != nil {
		os.Remove(tmp.Name())
		done = true
		return err
	}
	done = true
	syncDir(dir)
	return nil
}

// place moves the complete temporary file onto the target, after checking
// again that nothing but a regular file took its place meanwhile.
func place(tmp, path string, t Target, o Options) error {
	if o.NoClobber {
		// A hard link fails if the name exists, atomically: no check-then-
		// rename race with another writer.
		err := os.Link(tmp, t.Path)
		if err == nil {
			os.Remove(tmp)
			return nil
		}
		if errors.Is(err, fs.ErrExist) {
			return &ExistsError{Path: path}
		}
		// No hard links on this file system: check, then rename.
	}
	lst, err := os.Lstat(t.Path)
	switch {
	case err == nil && o.NoClobber:
		return &ExistsError{Path: path}
	case err == nil && !lst.Mode().IsRegular():
		return &NotRegularError{Path: path, Mode: lst.Mode()}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fail(path, err)
	}
	if err := os.Rename(tmp, t.Path); err != nil {
		return fail(path, err)
	}
	return nil
}

// createTemp makes a new file named .BASE.tmp-NNNN in dir with mode perm
// (less the umask).
func createTemp(dir, base string, perm fs.FileMode) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, "."+base+".tmp-"+randomSuffix())
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("no free temporary name in %s", dir)
}

// unwrapPath drops the *fs.PathError or *os.LinkError around err, whose
// path (often a temporary name) would only confuse; the caller names the
// file.
func unwrapPath(err error) error {
	switch e := err.(type) {
	case *fs.PathError:
		return e.Err
	case *os.LinkError:
		return e.Err
	}
	return err
}

func newBufferedWriter(f *os.File) *bufio.Writer { return bufio.NewWriterSize(f, 256<<10) }

// randomSuffix is eight random hex digits for a temporary name.
func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
