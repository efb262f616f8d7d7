package commands

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/otactl/otactl/internal/regularfile"
)

// Every file otactl writes goes through writeFile or writeFileStream: a
// temporary file in the folder of the file written, synced and renamed over
// it, to regular files only. A symbolic link is followed (the file it leads
// to is replaced, the link stays a link); a device node, FIFO, socket or
// folder is refused with exit 1 before any work that would be lost. Every
// file otactl reads goes through readInput or regularfile.Open, which
// refuse the same without ever blocking on a FIFO.

// outFile is a file a command is told to write.
type outFile struct {
	// Flag is the flag that names the file ("--out", "-O"), or "" when the
	// file is an argument or a setting: messages start with it.
	Flag string
	Path string
	// Dash says the flag takes "-" for standard output.
	Dash bool
	regularfile.Options
}

// check refuses what writing f would refuse, before the work that makes its
// content is done.
func (f outFile) check() error {
	_, err := regularfile.Check(f.Path, f.Options)
	return f.explain(err)
}

// write writes data to f atomically.
func (f outFile) write(data []byte) error {
	return f.explain(regularfile.Write(f.Path, data, f.Options))
}

// writeStream writes f atomically with what fill writes, when fill reports
// the content complete (true, nil); otherwise no file is left.
func (f outFile) writeStream(fill func(io.Writer) (bool, error)) error {
	return f.explain(regularfile.WriteStream(f.Path, f.Options, fill))
}

// explain starts a failure to write f with the flag's name ("write" for
// a file given otherwise) and adds a hint. Errors of the content's maker
// (fill) pass unchanged.
func (f outFile) explain(err error) error {
	var (
		nr *regularfile.NotRegularError
		ee *regularfile.ExistsError
		fe *regularfile.Error
	)
	prefix := "write "
	if f.Flag != "" {
		prefix = f.Flag + " "
	}
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nr):
		hint := "otactl writes regular files only, through a temporary file and a rename"
		if f.Dash && nr.Mode&fs.ModeDevice != 0 {
			hint = "to discard the output or send it to a device, give " + f.Flag + " - and redirect standard output"
		}
		return withHint(fmt.Errorf("%s%w", prefix, nr), hint)
	case errors.As(err, &ee):
		return fmt.Errorf("%s%w", prefix, ee)
	case errors.As(err, &fe):
		return fmt.Errorf("%s%w", prefix, fe)
	}
	return err
}

// readInput reads a regular file, or standard input when path is "-". A
// device node, FIFO or folder is refused without blocking.
func readInput(sys *System, path string) ([]byte, error) {
	if path == "-" {
		return readAllLimited(sys.Stdin, maxManifestFile, "standard input")
	}
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllLimited(f, maxManifestFile, path)
}

// maxManifestFile caps how much of a manifest file is read.
const maxManifestFile = 4 << 20

func readAllLimited(r io.Reader, limit int64, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("read %s: larger than %d bytes", name, limit)
	}
	return b, nil
}
