package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
)

// Exit codes, as in docs/protocol.md#exit-codes.
const (
	ExitOK           = 0
	ExitError        = 1
	ExitUsage        = 2
	ExitVerification = 3
	ExitRolloutFail  = 4
	ExitTimeout      = 5
	ExitPartial      = 6
	ExitInterrupted  = 130
)

// exitError gives an error its exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is a misuse of the command line: exit 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// withExitCode gives err the exit code code.
func withExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// hintError adds a "hint:" line to an error's message.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }
func (e *hintError) Hint() string  { return e.hint }

// withHint attaches a hint that Main prints on its own line.
func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hint: hint}
}

// exitCode maps an error to the exit code of docs/protocol.md#exit-codes.
// It is the only place that decides exit codes.
func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return ExitOK
	}
	if ctx.Err() != nil {
		// SIGINT or SIGTERM arrived (main's context is cancelled by nothing
		// else): whatever failed since failed because of it.
		return ExitInterrupted
	}
	var partial *publish.PartialError
	if errors.As(err, &partial) {
		return ExitPartial
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, release.ErrVerification) {
		return ExitVerification
	}
	return ExitError
}

// hintOf returns the first hint found in err's chain.
func hintOf(err error) string {
	for err != nil {
		if h, ok := err.(interface{ Hint() string }); ok && h.Hint() != "" {
			return h.Hint()
		}
		err = errors.Unwrap(err)
	}
	return ""
}
