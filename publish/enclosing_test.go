package publish

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/release"
)

var cohortBeta = Target{Kind: "cohort", Name: "beta", Topic: "cohorts/beta/.u/desired"}

// onFleet is the fixture's release at sequence 1000, a fake broker whose
// fleet topic retains that release at sequence seq (nothing when 0), and
// a publisher on it.
func onFleet(t *testing.T, seq int64) (*fixture, *fakeBroker, *Publisher) {
	t.Helper()
	f, b := newFixture(t, 1000, 10), newFakeBroker(t)
	if seq > 0 {
		b.retained[fleet.Topic] = payload(t, f.manifest(seq))
	}
	p, _ := publisher(b)
	return f, b, p
}

// TestNarrowerTargetBelowTheFleetIsRefused: a release for a device or a
// cohort whose sequence is not above the fleet's would be ignored by
// their devices (they act on the highest sequence they follow), so it is
// refused with exit 3's error, naming the fleet's topic and sequence, and
// nothing is published there.
func TestNarrowerTargetBelowTheFleetIsRefused(t *testing.T) {
	ctx := context.Background()
	for _, target := range []Target{deviceA, cohortBeta} {
		t.Run(string(target.Kind), func(t *testing.T) {
			f, b, p := onFleet(t, 2000)
			_, err := p.Publish(ctx, f.plan(target))
			var ar *AntiRollbackError
			if !errors.As(err, &ar) || !errors.Is(err, release.ErrVerification) || ar.Enclosing != 2000 {
				t.Fatalf("%v", err)
			}
			if want := "fleet (.u/desired) retains sequence 2000, which the devices of " + target.String(); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q, want it to say %q", err, want)
			}
			if h := hint.Of(err); !strings.Contains(h, "--sequence 2001") {
				t.Errorf("hint %q", h)
			}
			if _, found := b.retained[target.Topic]; found {
				t.Error("the refused release was published")
			}

			// Another release of the fleet's very sequence: which one a
			// device takes is not defined, so it is refused too.
			other := f.manifest(1000)
			other.Expires = "2030-01-01T00:00:00Z"
			other.Seal()
			b.retained[fleet.Topic] = payload(t, other)
			if _, err := p.Publish(ctx, f.dryRun(target)); !errors.As(err, &ar) {
				t.Errorf("another release of the same sequence on the fleet: %v", err)
			}

			// --force publishes anyway.
			forced := f.plan(target)
			forced.Force = true
			if _, err := p.Publish(ctx, forced); err != nil {
				t.Fatalf("--force: %v", err)
			}
		})
	}
}

// TestNarrowerTargetAboveOrBesideTheFleet: a staged rollout publishes to
// devices while the fleet holds the older release, a target that the
// fleet holds the same release for is left to publish, and a publish to
// the fleet and a device at once is judged on the fleet's own topic.
func TestNarrowerTargetAboveOrBesideTheFleet(t *testing.T) {
	ctx := context.Background()
	f, b, p := onFleet(t, 500)
	if _, err := p.Publish(ctx, f.plan(deviceA)); err != nil {
		t.Fatalf("above the fleet: %v", err)
	}
	b.retained[fleet.Topic] = payload(t, f.m)
	if _, err := p.Publish(ctx, f.plan(deviceB, cohortBeta)); err != nil {
		t.Fatalf("the fleet's own release: %v", err)
	}
	b.retained[fleet.Topic] = payload(t, f.manifest(2000))
	_, err := p.Publish(ctx, f.plan(fleet, deviceA))
	var ar *AntiRollbackError
	if !errors.As(err, &ar) || ar.Enclosing != 0 || !strings.Contains(err.Error(), "fleet retains sequence 2000") {
		t.Fatalf("fleet and device: %v", err)
	}
	b.retained[fleet.Topic] = []byte("{}") // unpublished: no release
	if _, err := p.Publish(ctx, f.plan(deviceA)); err != nil {
		t.Fatalf("the fleet retains the empty manifest: %v", err)
	}
}

// TestNarrowerTargetReadsTheFleetOnEveryEndpoint: the fleet's manifest on
// another endpoint counts too.
func TestNarrowerTargetReadsTheFleetOnEveryEndpoint(t *testing.T) {
	f, b, _ := onFleet(t, 0)
	other := &fakeEndpoint{b: newFakeBroker(t)}
	other.b.retained = map[string][]byte{mainTopic: f.data, fleet.Topic: payload(t, f.manifest(3000))}
	p, _ := endpointPublisher(b, other)
	_, err := p.Publish(context.Background(), f.plan(deviceA))
	var ar *AntiRollbackError
	if !errors.As(err, &ar) || ar.Enclosing != 3000 || !strings.Contains(err.Error(), "retains sequence 3000 on mqtt://e1:1883") {
		t.Fatalf("%v", err)
	}
}

// TestRollbackToANarrowerTargetIsAboveTheFleet: a rollback to a device
// gets a sequence above the fleet's, so its devices act on it.
func TestRollbackToANarrowerTargetIsAboveTheFleet(t *testing.T) {
	ctx := context.Background()
	f, b, p := onFleet(t, 0)
	if _, err := p.Publish(ctx, f.plan(fleet)); err != nil {
		t.Fatal(err)
	}
	b.retained[fleet.Topic] = payload(t, f.manifest(testNow.Unix()+70))
	plan, err := p.PlanRollback(ctx, RollbackRequest{To: 1000, BuiltAt: testNow, Targets: []Target{deviceA}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Manifest.SequenceNumber != testNow.Unix()+71 {
		t.Errorf("sequence %d, want one above the fleet's %d", plan.Manifest.SequenceNumber, testNow.Unix()+70)
	}
	if _, err := p.Publish(ctx, plan); err != nil {
		t.Fatalf("the rollback was refused: %v", err)
	}
}
