package rollout

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/catalog"
	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
)

// fakeBroker is retained messages in memory.
type fakeBroker struct {
	mu       sync.Mutex
	retained map[string][]byte
	// refuse, when not nil, may refuse a write to a topic.
	refuse func(topic string) error
}

func newFakeBroker(devices int) *fakeBroker {
	b := &fakeBroker{retained: map[string][]byte{}}
	for i := range devices {
		b.retained[fmt.Sprintf("devices/d%03d/.u/c/main", i)] = []byte(`{"state":0,"reason":0,"version":"1.0.0"}`)
	}
	return b
}

func (b *fakeBroker) Topics() protocol.Topics { return protocol.Topics{} }

func (b *fakeBroker) ReadRetained(_ context.Context, topic string) ([]byte, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.retained[topic]
	return p, ok, nil
}

func (b *fakeBroker) PublishVerified(_ context.Context, topic string, payload []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refuse != nil {
		if err := b.refuse(topic); err != nil {
			return err
		}
	}
	b.retained[topic] = append([]byte{}, payload...)
	return nil
}

func (b *fakeBroker) Clear(_ context.Context, topic string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.retained, topic)
	return nil
}

func (b *fakeBroker) ReadRetainedAll(_ context.Context, filter string, fn func(string, []byte)) error {
	b.mu.Lock()
	var hits [][2]string
	for t, p := range b.retained {
		if matches(filter, t) {
			hits = append(hits, [2]string{t, string(p)})
		}
	}
	b.mu.Unlock()
	for _, h := range hits {
		fn(h[0], []byte(h[1]))
	}
	return nil
}

func matches(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range f {
		if l == "#" {
			return true
		}
		if i >= len(t) || (l != "+" && l != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}

// fakePublisher publishes a plan's payload to its targets in the fake
// broker and records every plan; a rollback's manifest is the catalog
// entry's components under the new sequence.
type fakePublisher struct {
	b     *fakeBroker
	plans []*publish.Plan
}

func (p *fakePublisher) Publish(ctx context.Context, plan *publish.Plan) (*publish.Report, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // as a real publish on an ended context
	}
	p.plans = append(p.plans, plan)
	rep := &publish.Report{SequenceNumber: plan.Manifest.SequenceNumber}
	for _, t := range plan.Targets {
		_ = p.b.PublishVerified(ctx, t.Topic, plan.Payload)
		rep.Targets = append(rep.Targets, publish.TargetResult{Kind: t.Kind, Name: t.Name, Topic: t.Topic, Action: "published"})
	}
	return rep, nil
}

func (p *fakePublisher) PlanRollback(ctx context.Context, req publish.RollbackRequest) (*publish.Plan, error) {
	ct, _ := protocol.Topics{}.Release(req.To)
	b, found, _ := p.b.ReadRetained(ctx, ct)
	if !found {
		return nil, fmt.Errorf("release %d is not in the catalog", req.To)
	}
	e, err := catalog.Parse(b)
	if err != nil {
		return nil, err
	}
	m, err := publish.RollbackManifest(e, req.Sequence, "", req.Signers)
	if err != nil {
		return nil, err
	}
	payload, _ := release.EncodeJSON(m)
	return &publish.Plan{Manifest: m, Payload: payload, Encoding: "json", Targets: req.Targets, RollbackOf: req.To}, nil
}

// fakeJudge decides each gate with decide, and records the gates.
type fakeJudge struct {
	b      *fakeBroker
	gates  []fleet.Gate
	decide func(g fleet.Gate) (fleet.GateResult, error)
	bake   func(g fleet.Gate) fleet.GateResult
	// block makes Await wait for its context's end after decide.
	block bool
	// late makes Await return decide's result once its context has
	// ended, as the last look at the deadline does.
	late bool
	// known, when not nil, runs as Known is asked.
	known func()
}

func (j *fakeJudge) Known(ctx context.Context) ([]string, error) {
	if j.known != nil {
		j.known()
	}
	return publish.KnownDevices(ctx, j.b, protocol.Topics{})
}

func (j *fakeJudge) Await(ctx context.Context, g fleet.Gate, progress func(fleet.GateResult)) (fleet.GateResult, error) {
	j.gates = append(j.gates, g)
	progress(fleet.GateResult{Verdict: "pending", Total: len(g.Devices), PendingCount: len(g.Devices)})
	res, err := j.decide(g)
	if j.late {
		<-ctx.Done()
		return res, err
	}
	if j.block {
		<-ctx.Done()
		return fleet.GateResult{}, ctx.Err()
	}
	return res, err
}

func (j *fakeJudge) Bake(ctx context.Context, g fleet.Gate, d time.Duration, baseline int) (fleet.GateResult, error) {
	if j.bake != nil {
		return j.bake(g), nil
	}
	return passed(g), nil
}

// passed is a gate every device of passed.
func passed(g fleet.Gate) fleet.GateResult {
	n := max(len(g.Devices), g.Expect)
	return fleet.GateResult{Verdict: "done", Done: true, Total: n, Updated: n, Need: n}
}

// failedAll is a gate whose devices all failed.
func failedAll(g fleet.Gate) fleet.GateResult {
	res := fleet.GateResult{Verdict: "failed", Failed: true, TooManyFailed: true, Total: len(g.Devices), FailedCount: len(g.Devices), Need: len(g.Devices)}
	for _, d := range g.Devices {
		res.Failures = append(res.Failures, fleet.Row{Seen: true})
		res.Failures[len(res.Failures)-1].Report.Device = d
	}
	return res
}

// lab is a fake broker with a fleet of devices, the previous release
// 100 on the fleet topic and in the catalog, and a runner on it.
type lab struct {
	b      *fakeBroker
	pub    *fakePublisher
	judge  *fakeJudge
	events []Event
	runner *Runner
	rel    *release.Manifest
	plan   *publish.Plan
}

func newLab(t *testing.T, devices int) *lab {
	t.Helper()
	b := newFakeBroker(devices)
	l := &lab{b: b, pub: &fakePublisher{b: b}}
	l.judge = &fakeJudge{b: b, decide: func(g fleet.Gate) (fleet.GateResult, error) { return passed(g), nil }}
	old := manifest(t, 100, "1.0.0")
	oldPayload, _ := release.EncodeJSON(old)
	b.retained[".u/desired"] = oldPayload
	entry, _ := catalog.New(old, "json", nil, time.Unix(100, 0)).Encode()
	b.retained[".u/releases/100"] = entry
	l.rel = manifest(t, 200, "1.1.0")
	payload, _ := release.EncodeJSON(l.rel)
	l.plan = &publish.Plan{Manifest: l.rel, Payload: payload, Encoding: "json"}
	now := time.Unix(1_000, 0)
	l.runner = &Runner{Broker: b, Publisher: l.pub, Judge: l.judge,
		Now: func() time.Time { return now }, Observe: func(e Event) { l.events = append(l.events, e) }}
	return l
}

func manifest(t *testing.T, seq int64, version string) *release.Manifest {
	t.Helper()
	m := &release.Manifest{SequenceNumber: seq, Components: []release.Component{{Package: "main", Version: version,
		Hash: strings.Repeat("ab", 32), Size: 10, URI: release.ComponentURI("main", version)}}}
	m.Seal()
	return m
}

func (l *lab) request(steps, onFailure string) Request {
	s, err := ParseSteps(steps)
	if err != nil {
		panic(err)
	}
	return Request{Plan: l.plan, Steps: s, OnFailure: onFailure, Gate: fleet.Gate{MinUpdated: 1},
		Deadline: time.Now().Add(time.Minute), Owner: "ci@runner", Lease: time.Minute, Settle: time.Millisecond}
}

func (l *lab) kinds() string {
	var k []string
	for _, e := range l.events {
		if e.Kind != EventGate {
			k = append(k, fmt.Sprintf("%s:%d", e.Kind, e.Stage))
		}
	}
	return strings.Join(k, " ")
}

// desiredVersion is the version the manifest retained on topic gives.
func (l *lab) desiredVersion(t *testing.T, topic string) string {
	t.Helper()
	b, ok := l.b.retained[topic]
	if !ok {
		return ""
	}
	m, err := release.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return m.Components[0].Version
}
