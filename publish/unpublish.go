package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/release"
)

// UnpublishOptions say how Unpublish takes a release back.
type UnpublishOptions struct {
	// Encoding is the empty manifest's: release.EncodingJSON or
	// release.EncodingCBOR. "" takes, per target, the encoding of the
	// manifest it retains, JSON when that is neither.
	Encoding string
	// Clear deletes the retained message instead (an empty retained
	// payload), sending no manifest at all: devices that connect later see
	// nothing, and live devices on the Golioth SDK log a format error.
	Clear bool
	// DryRun says what would be done and sends nothing.
	DryRun bool
}

// Actions of targets (TargetResult.Action): of an unpublish, then of a
// publish.
const (
	ActionUnpublished     = "unpublished"     // the empty manifest was published, read back
	ActionWouldUnpublish  = "would unpublish" // the same, with DryRun
	ActionNoRelease       = "unchanged"       // the target already retains the empty manifest
	ActionCleared         = "cleared"         // the retained message was deleted (Clear)
	ActionWouldClear      = "would clear"
	ActionNothingRetained = "empty"           // nothing retained: nothing sent
	ActionFailed          = "failed"          // not taken back (or, publishing, not confirmed): TargetResult.Error says why
	ActionNotUnpublished  = "not unpublished" // the run was interrupted before it reached the target

	// A publish's own, besides published, unchanged, refused,
	// superseded, replaced and failed.
	ActionPublished    = "published"
	ActionNotPublished = "not published" // the run stopped before publishing there
	ActionInterrupted  = "interrupted"   // interrupted while publishing there: it may or may not retain the release
)

// Unpublish is the unpublish step: it takes the release back from every
// target so that devices, live and connecting later, see "no release".
// It publishes the empty manifest ({} or CBOR a0, see
// release.EmptyManifest) retained and reads it back, or, with Clear,
// deletes the retained message and reads back that nothing is retained.
// A target that retains nothing is left alone; one that retains bytes
// that are not a manifest is unpublished too. Each target is a
// TargetCleared event.
//
// A target that fails does not stop the others (a release taken back
// should come off every target that can be reached): it is ActionFailed,
// with its error, and the run returns an *UnpublishError carrying what
// every target did, inside a *PartialError (exit 6) when anything was sent
// to the broker (docs/publishing.md, "release unpublish").
func (p *Publisher) Unpublish(ctx context.Context, targets []Target, o UnpublishOptions) ([]TargetResult, error) {
	if o.Encoding != "" && !o.Clear {
		if _, err := release.EmptyManifest(o.Encoding); err != nil {
			return nil, err
		}
	}
	results := []TargetResult{}
	var (
		want   []retainedWant
		failed []string
		first  error
		sent   bool
	)
	for _, t := range targets {
		if ctx.Err() != nil {
			break
		}
		r, tried, err := p.unpublish(ctx, t, o)
		sent = sent || tried
		if err != nil {
			r.Action, r.Error = failedAction(err), err.Error()
			failed = append(failed, fmt.Sprintf("%s: %v", t, err))
			if first == nil {
				first = fmt.Errorf("%s: %w", t, err)
			}
		}
		results = append(results, r)
		p.Observe.emit(TargetCleared{Target: t, Result: r})
		if err != nil {
			continue
		}
		w := retainedWant{Topic: t.Topic}
		if r.Encoding != "" {
			w.Payload, _ = release.EmptyManifest(r.Encoding) // made in unpublish
		}
		want = append(want, w)
	}
	rep := &UnpublishReport{DryRun: o.DryRun, Targets: results}
	var epErr error
	if len(p.Endpoints) > 0 && !o.DryRun && len(want) > 0 {
		rep.Endpoints, epErr = p.confirmRetained(ctx, "unpublish", p.URL, want)
	}
	switch {
	case ctx.Err() != nil && sent:
		return rep.Targets, interruptedUnpublish(rep, targets)
	case ctx.Err() != nil:
		return results, ctx.Err()
	case len(failed) == 0 && epErr == nil:
		return results, nil
	case len(failed) == 0:
		return results, endpointPartial(ctx, epErr, rep)
	}
	msg := fmt.Sprintf("release unpublish failed on %s of %d: %s", text.Plural(len(failed), "target"), len(targets), strings.Join(failed, "; "))
	if epErr != nil {
		msg += "; " + epErr.Error()
	}
	rep.Error = msg
	uerr := &UnpublishError{Err: errors.New(msg), Report: rep}
	if len(failed) == 1 && epErr == nil {
		// One cause: kept (and its hint) for errors.As.
		uerr.Err = fmt.Errorf("release unpublish failed on 1 target of %d: %w", len(targets), first)
	}
	if !sent {
		return results, uerr
	}
	return results, &PartialError{Err: uerr, Result: rep,
		Next: "the targets whose action is unpublished or cleared have no release now; the ones marked failed may still hold it: fix the cause, then run the same unpublish again (targets already taken back are left unchanged)"}
}

// interruptedUnpublish is the error of an unpublish interrupted after it
// sent something: rep, the targets not reached added as not unpublished,
// says which targets hold no release (the exit stays 130: a cancelled
// context decides).
func interruptedUnpublish(rep *UnpublishReport, targets []Target) error {
	for _, t := range targets[len(rep.Targets):] {
		rep.Targets = append(rep.Targets, TargetResult{Kind: t.Kind, Name: t.Name, Topic: t.Topic, Action: ActionNotUnpublished})
	}
	done := 0
	for _, r := range rep.Targets {
		switch r.Action {
		case ActionUnpublished, ActionCleared, ActionNoRelease, ActionNothingRetained:
			done++
		}
	}
	rep.Error = fmt.Sprintf("interrupted with %d of %d targets holding no release", done, len(targets))
	return &PartialError{Err: errors.New(rep.Error), Result: rep,
		Next: "the targets whose action is unpublished, cleared, unchanged or empty hold no release now; the others may still hold it: run the same unpublish again to finish (targets already taken back are left unchanged)"}
}

// failedAction is the action of a target whose publish or unpublish
// failed with err: interrupted when the run was (it may or may not hold
// the release now), else failed.
func failedAction(err error) string {
	if errors.Is(err, context.Canceled) {
		return ActionInterrupted
	}
	return ActionFailed
}

// UnpublishReport is what Unpublish did when it did not take the release
// back everywhere: 'release unpublish -o json' prints it, with exit 6
// when anything was sent, 1 when nothing was.
type UnpublishReport struct {
	DryRun  bool           `json:"dryRun"`
	Targets []TargetResult `json:"targets"`
	// Endpoints, with several broker endpoints, say what each confirmed.
	Endpoints []EndpointResult `json:"endpoints,omitempty"`
	// Error is why the run did not end on every target.
	Error string `json:"error,omitempty"`
}

// UnpublishError is an unpublish that failed on some targets; Report
// says what every target's action was.
type UnpublishError struct {
	Err    error
	Report *UnpublishReport
}

func (e *UnpublishError) Error() string { return e.Err.Error() }
func (e *UnpublishError) Unwrap() error { return e.Err }

// unpublish takes the release back from one target; tried says that
// something was sent to the broker (even when it failed).
func (p *Publisher) unpublish(ctx context.Context, t Target, o UnpublishOptions) (r TargetResult, tried bool, err error) {
	r = TargetResult{Kind: t.Kind, Name: t.Name, Topic: t.Topic}
	m, old, found, err := ReadManifest(ctx, p.Broker, t.Topic)
	if err != nil && !found {
		return r, false, err
	}
	if m != nil {
		r.Previous = m.SequenceNumber
	}
	if !found {
		r.Action = ActionNothingRetained
		return r, false, nil
	}
	if o.Clear {
		r.Action = ActionWouldClear
		if !o.DryRun {
			if err := p.Broker.Clear(ctx, t.Topic); err != nil {
				return r, true, err
			}
			r.Action = ActionCleared
		}
		return r, !o.DryRun, nil
	}
	r.Encoding = o.Encoding
	if r.Encoding == "" {
		r.Encoding = release.EncodingOf(old)
	}
	if r.Encoding != release.EncodingCBOR {
		r.Encoding = release.EncodingJSON
	}
	empty, err := release.EmptyManifest(r.Encoding)
	if err != nil {
		return r, false, err
	}
	switch {
	case bytes.Equal(old, empty):
		r.Action = ActionNoRelease
	case o.DryRun:
		r.Action = ActionWouldUnpublish
	default:
		if err := p.Broker.PublishVerified(ctx, t.Topic, empty); err != nil {
			return r, true, err
		}
		r.Action = ActionUnpublished
		return r, true, nil
	}
	return r, false, nil
}
