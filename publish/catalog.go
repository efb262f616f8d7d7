package publish

import (
	"context"
	"fmt"
	"time"

	"github.com/otactl/otactl/catalog"
	"github.com/otactl/otactl/protocol"
)

// RecordCatalog is the catalog step: the release's entry at
// P.u/releases/SEQUENCE names the targets it stayed on. An entry already
// there for the same release is merged with them (unchanged when it named
// them all); one that does not parse is replaced, with a Warning. The
// result is a CatalogDone event.
func (p *Publisher) RecordCatalog(ctx context.Context, plan *Plan, kept []Target) (CatalogResult, error) {
	m := plan.Manifest
	ctopic, err := p.Broker.Topics().Release(m.SequenceNumber)
	if err != nil {
		return CatalogResult{}, err
	}
	res := CatalogResult{Topic: ctopic, Action: "recorded"}
	now := p.Now()
	entry := catalog.New(m, plan.Encoding, catalogTargets(kept, now.UTC().Format(time.RFC3339)), now)
	entry.RollbackOf = plan.RollbackOf
	old, found, err := p.Broker.ReadRetained(ctx, ctopic)
	if err != nil {
		return CatalogResult{}, err
	}
	if found {
		if prev, perr := catalog.Parse(old); perr == nil && prev.Hash == m.Hash {
			n := len(prev.Targets)
			prev.Merge(entry.Targets)
			if len(prev.Targets) == n {
				res.Action = "unchanged"
			}
			prev.PublishedAt, prev.Encoding = entry.PublishedAt, entry.Encoding
			if prev.RollbackOf == 0 {
				prev.RollbackOf = entry.RollbackOf
			}
			entry = prev
		} else if perr != nil {
			p.Observe.emit(Warning{fmt.Sprintf("catalog entry %s does not parse (%v): replacing it", ctopic, perr)})
		}
	}
	switch {
	case plan.DryRun && res.Action == "recorded":
		res.Action = "would record"
	case res.Action == "recorded":
		b, err := entry.Encode()
		if err != nil {
			return CatalogResult{}, err
		}
		if err := p.Broker.PublishVerified(ctx, ctopic, b); err != nil {
			return CatalogResult{}, fmt.Errorf("catalog: %w", err)
		}
	}
	p.Observe.emit(CatalogDone{res})
	return res, nil
}

// ReadCatalog reads every catalog entry, sorted by sequence number;
// entries that do not parse are skipped, each with a Warning.
func ReadCatalog(ctx context.Context, r RetainedReader, topics protocol.Topics, obs Observer) ([]*catalog.Entry, error) {
	var entries []*catalog.Entry
	err := r.ReadRetainedAll(ctx, topics.ReleasesFilter(), func(topic string, payload []byte) {
		seq, ok := topics.ParseRelease(topic)
		if !ok {
			return
		}
		e, err := catalog.Parse(payload)
		if err != nil || e.SequenceNumber != seq {
			if err == nil {
				err = fmt.Errorf("it names sequence %d", e.SequenceNumber)
			}
			obs.emit(Warning{fmt.Sprintf("skipping catalog entry %s: %v", topic, err)})
			return
		}
		entries = append(entries, e)
	})
	if err != nil {
		return nil, err
	}
	// A topic seen twice keeps its last entry.
	bySeq := map[int64]*catalog.Entry{}
	for _, e := range entries {
		bySeq[e.SequenceNumber] = e
	}
	entries = entries[:0]
	for _, e := range bySeq {
		entries = append(entries, e)
	}
	catalog.Sort(entries)
	return entries, nil
}
