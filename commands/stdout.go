package commands

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/otactl/otactl/internal/hint"
)

// stdoutWriter is standard output when it is a pipe or a file (not a
// terminal): it remembers the first write that failed, so that Main can
// say that output was lost. main.go ignores SIGPIPE, so a reader that
// went away (`otactl release publish … | head -1`) makes writes fail with
// EPIPE instead of ending the process in the middle of a publish: the
// command runs to its end, and then exits 1 (lostOutput).
type stdoutWriter struct {
	f   *os.File
	mu  sync.Mutex
	err error
}

func (w *stdoutWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
	}
	return n, err
}

// lostOutput is the error to exit with when a write to standard output
// failed during a command that otherwise succeeded, nil when none did.
func (sys *System) lostOutput() error {
	w, ok := sys.Stdout.(*stdoutWriter)
	if !ok {
		return nil
	}
	w.mu.Lock()
	err := w.err
	w.mu.Unlock()
	if err == nil {
		return nil
	}
	return hint.Wrap(stdoutError(err),
		"what otactl printed after that was lost (the reader of its output went away, or the disk is full); the command itself ran to its end")
}

// stdoutError is a failed write to standard output as otactl says it:
// "write standard output: broken pipe".
func stdoutError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // "write /dev/stdout: broken pipe" says the file twice
	}
	return fmt.Errorf("write standard output: %w", err)
}
