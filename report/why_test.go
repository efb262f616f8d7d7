package report

import (
	"errors"
	"testing"
	"time"

	"github.com/otactl/otactl/protocol"
)

// TestWhy: a malformed report says what is wrong in Why, without the
// words "malformed report" its message starts with.
func TestWhy(t *testing.T) {
	_, err := FromMessage(protocol.Topics{}, "devices/d1/.u/c/main", []byte(`{"state": "x"}`), time.Now())
	var me *MalformedError
	if !errors.As(err, &me) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want a MalformedError", err)
	}
	if got := Why(err); got == "" || got != me.Why || err.Error() != "malformed report: "+got {
		t.Errorf("Why = %q, message %q", got, err)
	}
	other := errors.New("report names no device or package")
	if got := Why(other); got != other.Error() {
		t.Errorf("Why(%v) = %q, want the whole message", other, got)
	}
}
