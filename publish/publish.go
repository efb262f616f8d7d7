// Package publish is the publish and rollout core: a Plan, the trust
// policy, and the steps that put a release on a broker (artifacts, targets,
// anti-rollback, desired, catalog), take one back (Unpublish) or publish an
// earlier one again (PlanRollback). Steps return reports and typed errors
// and print nothing: what happens on the way is told to an Observer as
// Events, which the command renders. The wire contract is docs/protocol.md.
package publish

import (
	"context"
	"time"

	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// ArtifactStore is what the artifact step needs of a broker.
type ArtifactStore interface {
	PutFile(ctx context.Context, req upload.PutRequest) (upload.PutResult, error)
	VerifyRetained(ctx context.Context, topic string, size int, sum [32]byte) error
}

// RetainedReader reads retained messages.
type RetainedReader interface {
	ReadRetained(ctx context.Context, topic string) ([]byte, bool, error)
	ReadRetainedAll(ctx context.Context, filter string, fn func(topic string, payload []byte)) error
}

// RetainedWriter publishes and clears retained messages, reading each
// back.
type RetainedWriter interface {
	PublishVerified(ctx context.Context, topic string, payload []byte) error
	Clear(ctx context.Context, topic string) error
}

// Watch is a live watch on desired topics (upload.Watch): how racing
// publishers converge on the highest release.
type Watch interface {
	Retained(topic string) ([]byte, bool)
	Seen(topic string) []upload.Seen
	Poll() error
	Own(topic string, payload []byte) error
	Publish(ctx context.Context, topic string, payload []byte) error
	Settle(ctx context.Context) (map[string]upload.Outcome, error)
	Close()
}

// DesiredWatcher starts a Watch on desired topics.
type DesiredWatcher interface {
	WatchDesired(ctx context.Context, topics []string, o upload.WatchOptions) (Watch, error)
}

// Broker is everything the core needs of one broker connection.
type Broker interface {
	Topics() protocol.Topics
	ArtifactStore
	RetainedReader
	RetainedWriter
	DesiredWatcher
}

// FromClient is the Broker of an open upload.Client.
func FromClient(c *upload.Client) Broker { return clientBroker{c} }

type clientBroker struct{ *upload.Client }

func (b clientBroker) WatchDesired(ctx context.Context, topics []string, o upload.WatchOptions) (Watch, error) {
	w, err := b.Watch(ctx, topics, o)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Hooks let tests widen the windows racing publishers meet in.
type Hooks struct {
	// BeforeDesired runs once, after the artifacts and the anti-rollback
	// check and before the first desired manifest is published.
	BeforeDesired func(ctx context.Context) error
	// BeforeEachDesired runs just before a desired manifest is published
	// to topic.
	BeforeEachDesired func(topic string)
}

// Publisher runs the core's steps on one broker connection.
type Publisher struct {
	Broker Broker
	// URL names Broker's endpoint in results.
	URL string
	// Endpoints are the other broker endpoints devices use: every step is
	// confirmed on each too (docs/publishing.md, "Several endpoints").
	Endpoints []Endpoint
	// Now is the clock: catalog times and expiry checks.
	Now func() time.Time
	// Observe is told what happens, as it happens; nil tells no one.
	Observe Observer
	Hooks   Hooks
}

// Publish runs a plan's steps in order, stopping at the first failure:
// the manifest held to the key set the fleet follows (KeySet), the
// device-compatibility lint, which refuses the plan in strict mode (Lint),
// and the targets (Targets: a --device glob or --percent that picks no
// device is refused), all before anything is sent; every artifact on the
// broker and read back (Artifacts), anti-rollback on every target
// (AntiRollback) and on the fleet above a narrower target
// (antiRollbackEnclosing), the desired manifest on each, confirmed
// (Desired.Publish), and the catalog entry (RecordCatalog). A desired
// manifest is therefore never visible before all its artifacts are. An
// error met after a desired manifest may have gone out is a
// *PartialError carrying the report so far, each target's action in it;
// so is a release that a concurrent publish displaced from some of its
// targets but not all (an *AntiRollbackError inside).
func (p *Publisher) Publish(ctx context.Context, plan *Plan) (*Report, error) {
	m := plan.Manifest
	rep := &Report{SequenceNumber: m.SequenceNumber, Hash: m.Hash, Encoding: plan.Encoding, DryRun: plan.DryRun,
		RollbackOf: plan.RollbackOf, Artifacts: []ArtifactResult{}, Targets: []TargetResult{}}
	if err := p.KeySet(ctx, plan); err != nil {
		return nil, err
	}
	var err error
	if rep.Warnings, err = p.Lint(plan); err != nil {
		return nil, err
	}
	// The targets first: a --device glob or --percent that picks no
	// device is refused before anything is sent.
	targets, err := p.Targets(ctx, plan)
	if err != nil {
		return nil, err
	}
	if rep.Artifacts, err = p.Artifacts(ctx, plan); err != nil {
		return nil, err
	}
	if !plan.DryRun {
		if err := ConfirmArtifacts(ctx, p.Endpoints, rep.Artifacts, p.Observe); err != nil {
			return nil, err
		}
	}
	desired, err := p.AntiRollback(ctx, plan, targets)
	if err != nil {
		return nil, err
	}
	defer desired.Close()
	if err := p.antiRollbackElsewhere(ctx, plan, targets); err != nil {
		return nil, err
	}
	if err := p.antiRollbackEnclosing(ctx, plan, targets); err != nil {
		return nil, err
	}
	if err := desired.Publish(ctx); err != nil {
		return nil, desired.partial(ctx, err, rep)
	}
	rep.Targets = desired.Results()
	kept := desired.Kept()
	if len(targets) > 0 && len(kept) == 0 {
		// The release stayed nowhere: no catalog entry.
		return nil, desired.Finish(ctx, rep)
	}
	if err := p.confirmDesired(ctx, plan, kept, rep); err != nil {
		return nil, err
	}
	if rep.Catalog, err = p.RecordCatalog(ctx, plan, kept); err != nil {
		return nil, desired.partial(ctx, err, rep)
	}
	if err := desired.Finish(ctx, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// confirmDesired confirms the desired manifest on every other endpoint,
// for every target that kept it, and records in rep what each endpoint
// confirmed. A target kept retains this release on the publishing
// connection, so a failure is a *PartialError (exit 6).
func (p *Publisher) confirmDesired(ctx context.Context, plan *Plan, kept []Target, rep *Report) error {
	if len(p.Endpoints) == 0 || plan.DryRun || len(kept) == 0 {
		return nil
	}
	want := make([]retainedWant, len(kept))
	for i, t := range kept {
		want[i] = retainedWant{Topic: t.Topic, Payload: plan.Payload}
	}
	var err error
	rep.Endpoints, err = p.confirmRetained(ctx, "desired manifest", p.URL, want)
	if err != nil {
		return endpointPartial(ctx, err, rep)
	}
	return nil
}

// Lint is the device-compatibility step (release.Lint). In strict mode a
// finding refuses the plan with a *release.LintError, which names it;
// otherwise each finding is told as a Warning and returned.
func (p *Publisher) Lint(plan *Plan) ([]release.Finding, error) {
	findings, err := release.LintStrict(plan.Manifest, plan.Strict)
	if err != nil {
		return nil, err
	}
	for _, f := range findings {
		p.Observe.emit(Warning{Message: f.String()})
	}
	if findings == nil {
		findings = []release.Finding{}
	}
	return findings, nil
}
