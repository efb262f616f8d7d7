package commands

import (
	"errors"
	"io/fs"
	"os"
	"sync"
)

// stdoutWriter is standard output when it is a pipe or a file (not a
// terminal): it remembers the first write that failed, so that Main can
// say that output was lost, and says a failed write the one way
// (stdoutError). main.go catches SIGPIPE, so a reader that went away
// (`otactl release publish … | head -1`) makes writes fail with EPIPE
// instead of ending the process in the middle of a publish: the command
// runs to its end, and then exits 1 (lostOutput).
type stdoutWriter struct {
	f   *os.File
	mu  sync.Mutex
	err error
}

func (w *stdoutWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = stdoutError(err)
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
	defer w.mu.Unlock()
	return w.err
}

// writeError is a failed write to standard output.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write standard output: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }
func (e *writeError) Hint() string {
	return "what otactl printed after that was lost: the reader of its output went away (a closed pipe) or the disk is full"
}

// stdoutError is a failed write to standard output as otactl says it,
// "write standard output: broken pipe", with a hint; one already said so
// is returned as it is.
func stdoutError(err error) error {
	var we *writeError
	if errors.As(err, &we) {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // "write /dev/stdout: broken pipe" says the file twice
	}
	return &writeError{err: err}
}
