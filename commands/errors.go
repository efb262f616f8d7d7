package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/profile"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/rollout"
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

// afterInterruptError is a failure while otactl stopped after an
// interrupt, not one the interrupt caused (a data folder that would not
// close): exit 1, not 130.
type afterInterruptError struct{ err error }

func (e *afterInterruptError) Error() string { return e.err.Error() }
func (e *afterInterruptError) Unwrap() error { return e.err }

// failedAfterInterrupt marks err as a failure of the stop that followed
// an interrupt.
func failedAfterInterrupt(err error) error { return &afterInterruptError{err: err} }

// withHint gives err a hint, which Main prints on its own line.
func withHint(err error, text string) error { return hint.Wrap(err, text) }

// exitCode maps an error to the exit code of docs/protocol.md#exit-codes.
// It is the only place that decides exit codes.
func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return ExitOK
	}
	var ai *afterInterruptError
	if errors.As(err, &ai) {
		return ExitError
	}
	if ctx.Err() != nil {
		// SIGINT or SIGTERM arrived (main's context is cancelled by nothing
		// else): whatever failed since failed because of it, except a
		// failure of the stop itself (afterInterruptError).
		return ExitInterrupted
	}
	var (
		partial *publish.PartialError
		ee      *exitError
		fe      *profile.FlagError
		ue      *release.UsageError
	)
	switch {
	case errors.As(err, &partial):
		return ExitPartial
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &fe), errors.As(err, &ue):
		return ExitUsage
	}
	switch {
	case errors.Is(err, rollout.ErrHalted):
		return ExitRolloutFail
	case errors.Is(err, rollout.ErrTimedOut):
		return ExitTimeout
	case errors.Is(err, rollout.ErrRefused), errors.Is(err, release.ErrVerification):
		return ExitVerification
	}
	return ExitError
}
