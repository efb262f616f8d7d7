package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
)

// unconfirmedPublisher is a fakePublisher whose publishes go out but are
// not confirmed on the endpoint "mqtt://edge" while cut is set, as the
// publish core reports it: a *publish.PartialError with the report.
type unconfirmedPublisher struct {
	fakePublisher
	cut bool
}

func (p *unconfirmedPublisher) Publish(ctx context.Context, plan *publish.Plan) (*publish.Report, error) {
	rep, err := p.fakePublisher.Publish(ctx, plan)
	if err != nil {
		return nil, err
	}
	rep.Endpoints = []publish.EndpointResult{{URL: "mqtt://central", Confirmed: true}, {URL: "mqtt://edge", Confirmed: !p.cut}}
	if p.cut {
		rep.Endpoints[1].Error = "nothing is retained there"
		return nil, &publish.PartialError{Err: errors.New("desired manifest not confirmed on every endpoint: endpoint mqtt://edge: nothing is retained there"), Result: rep}
	}
	return rep, nil
}

// endpointReader is a fake broker as another endpoint.
type endpointReader struct{ *fakeBroker }

func (endpointReader) VerifyRetained(context.Context, string, int, [32]byte) error { return nil }

// TestRunStageNotConfirmed: a stage published on the publishing
// connection but not confirmed on another endpoint pauses the rollout,
// with exit 6's error (a *publish.PartialError) and the endpoints in the
// paused event; resume publishes the stage again and goes on.
func TestRunStageNotConfirmed(t *testing.T) {
	l := newLab(t, 40)
	pub := &unconfirmedPublisher{fakePublisher: fakePublisher{b: l.b}, cut: true}
	l.runner.Publisher = pub
	req := l.request("10%,100%", OnFailurePause)
	st, err := l.runner.Run(context.Background(), req)
	var partial *publish.PartialError
	if !errors.As(err, &partial) || errors.Is(err, ErrHalted) || !strings.Contains(partial.Hint(), "rollout resume") {
		t.Fatalf("err %v (%T), want a *publish.PartialError whose hint names rollout resume", err, err)
	}
	if st.Status != StatusPaused || !strings.Contains(st.Message, "stage 1 (10%) published but not confirmed") || len(l.judge.gates) != 0 {
		t.Fatalf("status %s, message %q, %d gates", st.Status, st.Message, len(l.judge.gates))
	}
	last := l.events[len(l.events)-1]
	if last.Kind != EventPaused || len(last.Endpoints) != 2 || last.Endpoints[1].Confirmed || !strings.Contains(last.Text(), "not confirmed") {
		t.Fatalf("last event %+v", last)
	}
	saved, err := ReadState(context.Background(), l.b, ".u/rollout/state")
	if err != nil || saved.Status != StatusPaused {
		t.Fatalf("saved state %+v, %v", saved, err)
	}
	// The bridge is back: resume publishes stage 1 again, confirmed.
	pub.cut = false
	n := len(pub.plans)
	resume := Request{Plan: l.plan, Resume: true, Owner: "ops@laptop", Deadline: req.Deadline, Lease: req.Lease, Settle: req.Settle}
	if st, err = l.runner.Run(context.Background(), resume); err != nil || st.Status != StatusDone {
		t.Fatalf("resume: %v, %+v", err, st)
	}
	if len(pub.plans) != n+2 || pub.plans[n].Targets[0].Kind != "device" {
		t.Errorf("resume published %d plans", len(pub.plans)-n)
	}
	for _, e := range l.events {
		if e.Kind == EventPublished && (len(e.Endpoints) != 2 || !strings.Contains(e.Text(), "confirmed on 2 endpoints")) {
			t.Errorf("published event %q, endpoints %+v", e.Text(), e.Endpoints)
		}
	}
}

// TestRestoreOnEveryEndpoint: a restore's sequence is above what another
// endpoint retains, and a restore not confirmed there is exit 6's error
// that still says the rollout halted.
func TestRestoreOnEveryEndpoint(t *testing.T) {
	l := newLab(t, 40)
	pub := &unconfirmedPublisher{fakePublisher: fakePublisher{b: l.b}}
	l.runner.Publisher = pub
	edge := newFakeBroker(0)
	high := manifest(t, 900_000, "0.9.0")
	payload, _ := release.EncodeJSON(high)
	edge.retained[".u/desired"] = payload
	l.runner.Endpoints = []publish.Endpoint{{URL: "mqtt://edge", Reader: endpointReader{edge}}}
	l.judge.decide = func(g fleet.Gate) (fleet.GateResult, error) {
		pub.cut = true // the bridge goes down during the gate
		return failedAll(g), nil
	}
	st, err := l.runner.Run(context.Background(), l.request("10%,100%", OnFailureRollback))
	var partial *publish.PartialError
	if !errors.As(err, &partial) || !errors.Is(err, ErrHalted) || !strings.Contains(partial.Hint(), "release rollback --to 100") {
		t.Fatalf("err %v, want a *publish.PartialError wrapping ErrHalted", err)
	}
	rb := pub.plans[len(pub.plans)-1]
	if rb.RollbackOf != 100 || rb.Manifest.SequenceNumber <= 900_000 {
		t.Errorf("restore of %d as sequence %d, want above the edge's 900000", rb.RollbackOf, rb.Manifest.SequenceNumber)
	}
	if st.Status != StatusRolledBack || !strings.Contains(st.Message, "restoring the previous release failed") {
		t.Errorf("status %s, message %q", st.Status, st.Message)
	}
}
