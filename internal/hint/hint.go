// Package hint gives an error the next step a user can take. Every package
// attaches hints the same way, with an error whose Hint method says it;
// commands.Main finds the hint with errors.As and prints it on "hint:"
// lines below the message.
package hint

import "errors"

// Hinter is an error that suggests what to do about it. A package's own
// error types may implement it too (upload.ConnectError does).
type Hinter interface {
	error
	Hint() string
}

// Error is an error with a hint.
type Error struct {
	Err  error
	Text string
	// Chain adds the hint of the wrapped error, on the next line, after
	// Text; otherwise Text replaces it.
	Chain bool
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Hint is the hint, with the wrapped error's own after it when chained.
func (e *Error) Hint() string {
	if e.Chain {
		if below := Of(e.Err); below != "" {
			return e.Text + "\n" + below
		}
	}
	return e.Text
}

// Wrap gives err the hint text, which replaces any hint err carries. A nil
// err stays nil.
func Wrap(err error, text string) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Text: text}
}

// Add gives err the hint text, followed by any hint err carries. A nil err
// stays nil.
func Add(err error, text string) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Text: text, Chain: true}
}

// Of is the first hint in err's chain that is not empty, or "".
func Of(err error) string {
	for err != nil {
		var h Hinter
		if !errors.As(err, &h) {
			return ""
		}
		if s := h.Hint(); s != "" {
			return s
		}
		err = errors.Unwrap(h)
	}
	return ""
}
