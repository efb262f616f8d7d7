package commands

import (
	"context"
	"io"
	"os"

	"golang.org/x/term"
)

// withContext returns a copy of sys whose standard input, when it is a
// file (a terminal, a pipe, a FIFO), stops blocking when ctx ends: a read
// from a pipe nobody writes to, or a terminal nobody types at, returns
// ctx.Err() at SIGINT or SIGTERM instead of holding the process. Its
// standard output, when a pipe or a file, remembers a failed write
// (stdoutWriter).
func (sys *System) withContext(ctx context.Context) *System {
	s := *sys
	s.ctx = ctx
	if f, ok := sys.Stdin.(*os.File); ok {
		s.Stdin = &interruptibleReader{ctx: ctx, file: f}
	}
	if f, ok := sys.Stdout.(*os.File); ok && !sys.StdoutTTY {
		s.Stdout = &stdoutWriter{f: f}
	}
	return &s
}

// runContext is the context Main runs under (Background for a System Main
// did not make).
func (sys *System) runContext() context.Context {
	if sys.ctx == nil {
		return context.Background()
	}
	return sys.ctx
}

// stdinFile is the file standard input reads, for what needs the terminal
// itself (a password prompt without echo, the live view's keys).
func (sys *System) stdinFile() (*os.File, bool) {
	switch r := sys.Stdin.(type) {
	case *os.File:
		return r, true
	case *interruptibleReader:
		return r.file, true
	}
	return nil, false
}

// stdinReader is standard input as a reader for the live view: the file
// itself, so that the view can put a terminal in raw mode.
func (sys *System) stdinReader() io.Reader {
	if f, ok := sys.stdinFile(); ok {
		return f
	}
	return sys.Stdin
}

// interruptibleReader reads file in a goroutine of its own and returns as
// soon as ctx ends. A read still blocked then is abandoned (the process is
// about to exit); every later read returns ctx.Err() at once.
type interruptibleReader struct {
	ctx  context.Context
	file *os.File
}

type readResult struct {
	b   []byte
	err error
}

func (r *interruptibleReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// The goroutine reads into a buffer of its own: an abandoned read must
	// never write into p after Read returned.
	ch := make(chan readResult, 1)
	go func(n int) {
		buf := make([]byte, n)
		k, err := r.file.Read(buf)
		ch <- readResult{buf[:k], err}
	}(len(p))
	select {
	case res := <-ch:
		return copy(p, res.b), res.err
	case <-r.ctx.Done():
		return 0, r.ctx.Err()
	}
}

// readTerminalPassword reads a line from the terminal f without echo. At
// SIGINT or SIGTERM it restores the terminal and returns ctx.Err().
func (sys *System) readTerminalPassword(f *os.File) ([]byte, error) {
	ctx := sys.runContext()
	fd := int(f.Fd())
	state, _ := term.GetState(fd)
	ch := make(chan readResult, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		ch <- readResult{b, err}
	}()
	select {
	case res := <-ch:
		return res.b, res.err
	case <-ctx.Done():
		if state != nil {
			_ = term.Restore(fd, state)
		}
		return nil, ctx.Err()
	}
}
