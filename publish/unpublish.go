package publish

import "context"

// Unpublish is the unpublish step: it clears the retained desired manifest
// of every target with an empty retained message, read back (with dryRun
// it only says what it would clear). A target that retains nothing is
// "empty"; one that retains bytes that are not a manifest is cleared too.
// Each target is a TargetCleared event.
func (p *Publisher) Unpublish(ctx context.Context, targets []Target, dryRun bool) ([]TargetResult, error) {
	results := []TargetResult{}
	for _, t := range targets {
		r := TargetResult{Kind: t.Kind, Name: t.Name, Topic: t.Topic}
		m, _, found, err := ReadManifest(ctx, p.Broker, t.Topic)
		if err != nil && !found {
			return nil, err
		}
		if m != nil {
			r.Previous = m.SequenceNumber
		}
		switch {
		case !found:
			r.Action = "empty"
		case dryRun:
			r.Action = "would clear"
		default:
			if err := p.Broker.Clear(ctx, t.Topic); err != nil {
				return nil, err
			}
			r.Action = "cleared"
		}
		results = append(results, r)
		p.Observe.emit(TargetCleared{Target: t, Result: r})
	}
	return results, nil
}
