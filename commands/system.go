package commands

import (
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
)

// System is the outside world a command touches: streams, terminals, the
// clock and the environment. main builds the real one; tests build one with
// buffers, a fixed clock and fakes.
type System struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	StdinTTY  bool
	StdoutTTY bool
	StderrTTY bool

	// Now is the clock. The real one honours SOURCE_DATE_EPOCH.
	Now func() time.Time
	// Getenv reads an environment variable.
	Getenv func(string) string
}

// DefaultSystem is the System of a real process.
func DefaultSystem() *System {
	return &System{
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		StdinTTY:  isTerminal(os.Stdin),
		StdoutTTY: isTerminal(os.Stdout),
		StderrTTY: isTerminal(os.Stderr),
		Now:       time.Now,
		Getenv:    os.Getenv,
	}
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
