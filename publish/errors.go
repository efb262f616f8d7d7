package publish

import (
	"fmt"
	"strings"

	"github.com/otactl/otactl/release"
)

// PartialError is an error met after a desired manifest may have reached
// the broker: the release may be live though the run could not confirm it
// everywhere (exit 6).
type PartialError struct {
	Err error
	// Result, when set, is what the run did, for -o json: a *Report or an
	// *UnpublishReport whose endpoints say what each confirmed.
	Result any
	// Next, when set, replaces the hint.
	Next string
}

func (e *PartialError) Error() string { return e.Err.Error() }
func (e *PartialError) Unwrap() error { return e.Err }
func (e *PartialError) Hint() string {
	if e.Next != "" {
		return e.Next
	}
	return "a desired manifest was published, so the release may be live on some targets: check with 'otactl release current', and run the same publish again to finish it"
}

// AntiRollbackError is a release refused on some targets because they
// retain, or were sent, a sequence number at or above its own. It wraps
// release.ErrVerification.
type AntiRollbackError struct {
	Sequence int64
	// Reasons say, per target, what was there.
	Reasons []string
	// Lost says the release was published and did not stay on every
	// target: another run published a higher one concurrently.
	Lost bool
	// Enclosing, when set, is the highest sequence an enclosing scope
	// (the fleet) retains above this release: the devices of its narrower
	// targets would act on that one instead.
	Enclosing int64
}

func (e *AntiRollbackError) Error() string {
	if e.Lost {
		return fmt.Sprintf("%s: anti-rollback: sequence %d did not stay on every target: %s",
			release.ErrVerification, e.Sequence, strings.Join(e.Reasons, "; "))
	}
	return fmt.Sprintf("%s: anti-rollback: sequence %d is not above what is published: %s",
		release.ErrVerification, e.Sequence, strings.Join(e.Reasons, ", "))
}

func (e *AntiRollbackError) Unwrap() error { return release.ErrVerification }

func (e *AntiRollbackError) Hint() string {
	if e.Lost {
		return "another run published to the same target at the same time, and devices get what it retains now (otactl release current): create the release again (a new sequence number) if this one should win"
	}
	if e.Enclosing > 0 {
		return fmt.Sprintf("devices act on the highest sequence of their device, cohort and fleet topics: create the release again above it "+
			"('otactl release create --sequence %d' or later), or use 'otactl release rollback', which picks a sequence above the fleet's", e.Enclosing+1)
	}
	return "create the release again (a new sequence number), use 'otactl release rollback' to go back to an earlier release, or --force"
}
