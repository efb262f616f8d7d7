package commands

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/otactl/otactl/keys"
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
	// Keyring is the OS keyring holding signing keys and broker passwords.
	Keyring keys.Keyring

	// ctx is the context Main runs under (see withContext).
	ctx context.Context
}

// keyStore is the key and password store on sys's keyring.
func (sys *System) keyStore() *keys.Store { return keys.NewStore(sys.Keyring) }

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
		Keyring:   keys.SystemKeyring(),
	}
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// buildTime is the time a release is made at: SOURCE_DATE_EPOCH (seconds
// since the Unix epoch) when set, so that builds are reproducible, else now.
func (sys *System) buildTime() (time.Time, error) {
	v := sys.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return sys.Now(), nil
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a positive number of seconds", v)
	}
	return time.Unix(secs, 0).UTC(), nil
}
