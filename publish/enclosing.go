package publish

import (
	"context"
	"fmt"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
)

// A device follows its device, its cohort and the fleet desired topics
// and acts on the manifest with the highest sequence number
// (docs/protocol.md): a release published to a narrower target with a
// sequence at or below what an enclosing scope retains is ignored by the
// devices it was meant for (docs/publishing.md, "Narrower targets").

// Enclosing are the desired topics that the devices of t follow besides
// t's own: the fleet's, for a cohort or a device target. A device's
// cohort is not among them: otactl does not know it (a device's cohort
// is its own setting, and nothing it publishes names it).
func Enclosing(topics protocol.Topics, t Target) []Target {
	if t.Kind == protocol.Fleet {
		return nil
	}
	return []Target{{Kind: protocol.Fleet, Topic: topics.Fleet()}}
}

// WithEnclosing is targets followed, once each, by the enclosing scopes
// (Enclosing) of every target that are not themselves among targets.
func WithEnclosing(topics protocol.Topics, targets []Target) []Target {
	out := append([]Target{}, targets...)
	for _, s := range enclosingOnly(topics, targets) {
		out = append(out, s.scope)
	}
	return out
}

// enclosed is an enclosing scope and the targets of a plan inside it.
type enclosed struct {
	scope Target
	of    []Target
}

// enclosingOnly are the enclosing scopes of targets that are not targets
// themselves (a scope published to in the same run is raised by it, and
// its own anti-rollback check covers it), each with the targets inside it.
func enclosingOnly(topics protocol.Topics, targets []Target) []enclosed {
	own := map[string]bool{}
	for _, t := range targets {
		own[t.Topic] = true
	}
	var out []enclosed
	at := map[string]int{}
	for _, t := range targets {
		for _, s := range Enclosing(topics, t) {
			if own[s.Topic] {
				continue
			}
			i, ok := at[s.Topic]
			if !ok {
				i, at[s.Topic] = len(out), len(out)
				out = append(out, enclosed{scope: s})
			}
			out[i].of = append(out[i].of, t)
		}
	}
	return out
}

// antiRollbackEnclosing is the anti-rollback check on the enclosing
// scopes of the plan's narrower targets, on the publishing connection and
// on every other endpoint: a scope that retains a higher sequence, or
// another release of the same sequence, would win over the plan's on every
// device of those targets, so the plan is refused (an *AntiRollbackError)
// unless Force. Bytes that are not a manifest, and the empty manifest, do
// not count.
func (p *Publisher) antiRollbackEnclosing(ctx context.Context, plan *Plan, targets []Target) error {
	scopes := enclosingOnly(p.Broker.Topics(), targets)
	if plan.Force || len(scopes) == 0 {
		return nil
	}
	type reader struct {
		url string // "" for the publishing connection
		r   RetainedReader
	}
	readers := []reader{{r: p.Broker}}
	for _, e := range p.Endpoints {
		readers = append(readers, reader{e.URL, e.Reader})
	}
	m := plan.Manifest
	refusal := &AntiRollbackError{Sequence: m.SequenceNumber}
	for _, e := range readers {
		for _, s := range scopes {
			om, _, found, err := ReadManifest(ctx, e.r, s.scope.Topic)
			switch {
			case err != nil && !found && e.url == "":
				return fmt.Errorf("anti-rollback: read %s: %w", s.scope.Topic, err)
			case err != nil && !found:
				return endpointError(e.url, "anti-rollback: read "+s.scope.Topic, err)
			case om == nil || !outranks(om, m):
				continue
			}
			where := ""
			if e.url != "" {
				where = " on " + e.url
			}
			refusal.Reasons = append(refusal.Reasons, fmt.Sprintf("%s (%s) retains sequence %d%s, which the devices of %s follow too and would act on instead",
				s.scope, s.scope.Topic, om.SequenceNumber, where, targetNames(s.of)))
			refusal.Enclosing = max(refusal.Enclosing, om.SequenceNumber)
		}
	}
	if len(refusal.Reasons) > 0 {
		return refusal
	}
	return nil
}

// outranks says whether a device that follows both prefers old over m:
// a higher sequence, or another release of the same sequence (which one
// a device takes is then not defined).
func outranks(old, m *release.Manifest) bool {
	return old.SequenceNumber > m.SequenceNumber || old.SequenceNumber == m.SequenceNumber && old.Hash != m.Hash
}

// targetNames names ts: the target itself when there is one, else how
// many and the first.
func targetNames(ts []Target) string {
	if len(ts) == 1 {
		return ts[0].String()
	}
	return fmt.Sprintf("%s (%s, …)", text.Plural(len(ts), "narrower target"), ts[0])
}
