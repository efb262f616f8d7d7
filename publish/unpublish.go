package publish

import (
	"bytes"
	"context"

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

// Unpublish actions (TargetResult.Action).
const (
	ActionUnpublished     = "unpublished"     // the empty manifest was published, read back
	ActionWouldUnpublish  = "would unpublish" // the same, with DryRun
	ActionNoRelease       = "unchanged"       // the target already retains the empty manifest
	ActionCleared         = "cleared"         // the retained message was deleted (Clear)
	ActionWouldClear      = "would clear"
	ActionNothingRetained = "empty" // nothing retained: nothing sent
)

// Unpublish is the unpublish step: it takes the release back from every
// target so that devices, live and connecting later, see "no release".
// It publishes the empty manifest ({} or CBOR a0, see
// release.EmptyManifest) retained and reads it back, or, with Clear,
// deletes the retained message and reads back that nothing is retained.
// A target that retains nothing is left alone; one that retains bytes
// that are not a manifest is unpublished too. Each target is a
// TargetCleared event.
func (p *Publisher) Unpublish(ctx context.Context, targets []Target, o UnpublishOptions) ([]TargetResult, error) {
	if o.Encoding != "" && !o.Clear {
		if _, err := release.EmptyManifest(o.Encoding); err != nil {
			return nil, err
		}
	}
	results := []TargetResult{}
	var want []retainedWant
	for _, t := range targets {
		r, err := p.unpublish(ctx, t, o)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
		p.Observe.emit(TargetCleared{Target: t, Result: r})
		w := retainedWant{Topic: t.Topic}
		if r.Encoding != "" {
			w.Payload, _ = release.EmptyManifest(r.Encoding) // made in unpublish
		}
		want = append(want, w)
	}
	if len(p.Endpoints) == 0 || o.DryRun {
		return results, nil
	}
	eps, err := p.confirmRetained(ctx, "unpublish", p.URL, want)
	if err != nil {
		return results, endpointPartial(ctx, err, &UnpublishReport{Targets: results, Endpoints: eps})
	}
	return results, nil
}

// UnpublishReport is what Unpublish did when it could not confirm it on
// every endpoint: 'release unpublish -o json' prints it with exit 6.
type UnpublishReport struct {
	DryRun    bool             `json:"dryRun"`
	Targets   []TargetResult   `json:"targets"`
	Endpoints []EndpointResult `json:"endpoints"`
}

// unpublish takes the release back from one target.
func (p *Publisher) unpublish(ctx context.Context, t Target, o UnpublishOptions) (TargetResult, error) {
	r := TargetResult{Kind: t.Kind, Name: t.Name, Topic: t.Topic}
	m, old, found, err := ReadManifest(ctx, p.Broker, t.Topic)
	if err != nil && !found {
		return r, err
	}
	if m != nil {
		r.Previous = m.SequenceNumber
	}
	if !found {
		r.Action = ActionNothingRetained
		return r, nil
	}
	if o.Clear {
		r.Action = ActionWouldClear
		if !o.DryRun {
			if err := p.Broker.Clear(ctx, t.Topic); err != nil {
				return r, err
			}
			r.Action = ActionCleared
		}
		return r, nil
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
		return r, err
	}
	switch {
	case bytes.Equal(old, empty):
		r.Action = ActionNoRelease
	case o.DryRun:
		r.Action = ActionWouldUnpublish
	default:
		if err := p.Broker.PublishVerified(ctx, t.Topic, empty); err != nil {
			return r, err
		}
		r.Action = ActionUnpublished
	}
	return r, nil
}
