package publish

import (
	"context"
	"crypto"
	"fmt"
	"time"

	"github.com/otactl/otactl/catalog"
	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
)

// RollbackRequest is an earlier release to publish again.
type RollbackRequest struct {
	To int64 // the catalog release's sequence number
	// Sequence is the new manifest's; 0: BuiltAt, or one above what the
	// targets retain.
	Sequence int64
	BuiltAt  time.Time
	Expires  string // RFC 3339 UTC, "" for none
	// Encoding is json or cbor; "": the encoding the release was
	// published with.
	Encoding string
	Signers  []crypto.Signer
	Trust    TrustPolicy
	Targets  []Target
	Force    bool
	DryRun   bool
	// Strict refuses the new manifest when the device-compatibility lint
	// has findings about it (Publisher.Lint, run by Publish).
	Strict bool
}

// PlanRollback is the rollback step: it takes release req.To's components
// from the catalog, builds a new manifest with a new sequence number
// (RollbackSequence), signs it with every signer, checks it against the
// trust policy and returns the plan that publishes it.
func (p *Publisher) PlanRollback(ctx context.Context, req RollbackRequest) (*Plan, error) {
	ctopic, err := p.Broker.Topics().Release(req.To)
	if err != nil {
		return nil, err
	}
	b, found, err := p.Broker.ReadRetained(ctx, ctopic)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, hint.Wrap(fmt.Errorf("release %d is not in the catalog (%s)", req.To, ctopic), "list releases with 'otactl release list'")
	}
	entry, err := catalog.Parse(b)
	if err != nil {
		return nil, err
	}
	seq := req.Sequence
	if seq == 0 {
		// One above the highest sequence on any endpoint.
		topics := p.Broker.Topics()
		seq = RollbackSequence(ctx, p.Broker, topics, req.Targets, req.BuiltAt)
		for _, e := range p.Endpoints {
			seq = max(seq, RollbackSequence(ctx, e.Reader, topics, req.Targets, req.BuiltAt))
		}
	}
	m, err := RollbackManifest(entry, seq, req.Expires, req.Signers)
	if err != nil {
		return nil, err
	}
	if err := req.Trust.CheckPublish(ctx, m, p.Now(), p.Observe); err != nil {
		return nil, fmt.Errorf("rollback manifest: %w", err)
	}
	encoding := req.Encoding
	if encoding == "" {
		encoding = entry.Encoding
	}
	payload, err := Encode(m, encoding)
	if err != nil {
		return nil, err
	}
	return &Plan{Manifest: m, Payload: payload, Encoding: encoding, Files: map[string]string{},
		Targets: req.Targets, Force: req.Force, DryRun: req.DryRun, RollbackOf: req.To, Strict: req.Strict, Trust: req.Trust}, nil
}

// RollbackSequence is the sequence number of a rollback built at now: the
// Unix time, or one above the highest sequence the targets and their
// enclosing scopes (Enclosing: the fleet above a cohort or a device)
// retain, so that anti-rollback lets it through and the devices of a
// narrower target act on it. A topic that cannot be read or retains no
// manifest does not count.
func RollbackSequence(ctx context.Context, r RetainedReader, topics protocol.Topics, targets []Target, now time.Time) int64 {
	seq := now.Unix()
	for _, t := range WithEnclosing(topics, targets) {
		m, _, _, err := ReadManifest(ctx, r, t.Topic)
		if err == nil && m != nil && m.SequenceNumber >= seq {
			seq = m.SequenceNumber + 1
		}
	}
	return seq
}

// RollbackManifest is entry's release as a new manifest of sequence seq,
// expiring at expires ("" for never), sealed and signed by signers.
func RollbackManifest(entry *catalog.Entry, seq int64, expires string, signers []crypto.Signer) (*release.Manifest, error) {
	m := entry.Manifest(seq)
	m.Expires = expires
	m.Seal()
	for _, s := range signers {
		if err := m.Sign(s); err != nil {
			return nil, err
		}
	}
	return m, nil
}
