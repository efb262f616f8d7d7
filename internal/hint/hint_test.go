package hint

import (
	"errors"
	"fmt"
	"testing"
)

type quiet struct{ err error }

func (q *quiet) Error() string { return q.err.Error() }
func (q *quiet) Unwrap() error { return q.err }
func (q *quiet) Hint() string  { return "" }

func TestOf(t *testing.T) {
	base := errors.New("boom")
	if Wrap(nil, "x") != nil || Add(nil, "x") != nil {
		t.Fatal("a nil error must stay nil")
	}
	inner := Wrap(base, "inner")
	for _, tt := range []struct {
		err  error
		want string
	}{
		{base, ""},
		{inner, "inner"},
		{fmt.Errorf("context: %w", inner), "inner"},
		{Wrap(inner, "outer"), "outer"},
		{Add(inner, "outer"), "outer\ninner"},
		{Add(base, "alone"), "alone"},
		{&quiet{inner}, "inner"},
		{errors.Join(errors.New("other"), inner), "inner"},
	} {
		if got := Of(tt.err); got != tt.want {
			t.Errorf("Of(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if got := Wrap(base, "h").Error(); got != "boom" {
		t.Errorf("message %q, want the wrapped error's", got)
	}
	if !errors.Is(Wrap(base, "h"), base) {
		t.Error("a hinted error must unwrap to its error")
	}
}
