package commands

import (
	"context"
	"errors"
	"sync"
)

// streamOut watches the writes of a command that prints a stream of
// events on standard output from callbacks that cannot return an error
// (watch, simulate, a rollout's events). It remembers the first write
// that failed (a full disk, a closed file), so that the command fails
// with it, exit 1, instead of losing the events and exiting 0; stop, when
// set, is called then to end the stream. docs/watch.md, "Standard output".
type streamOut struct {
	stop func()
	mu   sync.Mutex
	err  error
}

// newStreamOut is a streamOut for sys's standard output whose failure
// cancels the context it returns: the stream's. When the stream prints
// there (printing), a pipe whose reader goes away ends it at once
// (watchReaderGone), not only at the next write.
func newStreamOut(ctx context.Context, sys *System, printing bool) (context.Context, *streamOut, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	out := &streamOut{stop: cancel}
	if w, ok := sys.Stdout.(*stdoutWriter); ok && printing {
		watchReaderGone(ctx, w.f, out.check)
	}
	return ctx, out, cancel
}

// check takes the result of a write to standard output; on a nil s it
// does nothing (the demo, whose events are a show).
func (s *streamOut) check(err error) {
	if s == nil || err == nil {
		return
	}
	s.mu.Lock()
	first := s.err == nil
	if first {
		s.err = stdoutError(err)
	}
	s.mu.Unlock()
	if first && s.stop != nil {
		s.stop()
	}
}

// result is the command's error once the stream ended with err: err when
// it is a failure of its own (a rollout's gate, which decides the exit
// code), with the failed write after it; the failed write when the
// stream ended without one, or because the write stopped it.
func (s *streamOut) result(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err == nil:
		return err
	case err == nil || errors.Is(err, context.Canceled):
		return s.err
	}
	return errors.Join(err, s.err)
}
