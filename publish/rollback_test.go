package publish

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/release"
)

// published puts f's release at sequence seq in b's catalog.
func published(t *testing.T, b *fakeBroker, f *fixture, encoding string) {
	t.Helper()
	p, _ := publisher(b)
	plan := f.plan()
	plan.Encoding = encoding
	if _, err := p.RecordCatalog(context.Background(), plan, []Target{fleet}); err != nil {
		t.Fatal(err)
	}
}

// cborCatalog is a fixture whose release the catalog records as published
// to the fleet in CBOR, on a fake broker.
func cborCatalog(t *testing.T) (*fixture, *fakeBroker) {
	t.Helper()
	f, b := newFixture(t, 1000, 10), newFakeBroker(t)
	published(t, b, f, "cbor")
	return f, b
}

func TestRollbackSequencePicksAboveWhatTargetsRetain(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	now := time.Unix(5000, 0)

	if got := RollbackSequence(ctx, b, b.topics, []Target{fleet, deviceA}, now); got != 5000 {
		t.Errorf("nothing retained: %d, want the time now", got)
	}
	b.retained[deviceA.Topic] = payload(t, f.manifest(7000))
	b.retained[fleet.Topic] = payload(t, f.manifest(6000))
	b.retained[deviceB.Topic] = []byte("garbage")
	if got := RollbackSequence(ctx, b, b.topics, []Target{fleet, deviceA, deviceB}, now); got != 7001 {
		t.Errorf("7000 retained: %d, want 7001", got)
	}
	b.retained[deviceA.Topic] = payload(t, f.manifest(5000))
	if got := RollbackSequence(ctx, b, b.topics, []Target{deviceA}, now); got != 6001 {
		t.Errorf("the fleet retains 6000 above the device's 5000: %d, want 6001", got)
	}
	delete(b.retained, fleet.Topic)
	if got := RollbackSequence(ctx, b, b.topics, []Target{deviceA}, now); got != 5001 {
		t.Errorf("the time now retained: %d, want 5001", got)
	}
}

func TestPlanRollbackRebuildsTheManifest(t *testing.T) {
	ctx := context.Background()
	f, b := cborCatalog(t)
	b.retained[deviceA.Topic] = payload(t, f.manifest(6000))
	signer := newSigner(t)
	p, _ := publisher(b)

	req := RollbackRequest{To: 1000, BuiltAt: time.Unix(5000, 0), Expires: "2030-01-01T00:00:00Z",
		Signers: []crypto.Signer{signer}, Targets: []Target{deviceA},
		Trust: TrustPolicy{Keys: []crypto.PublicKey{signer.Public()}, RequireSignatures: true}}
	plan, err := p.PlanRollback(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	m := plan.Manifest
	if m.SequenceNumber != 6001 || m.Expires != req.Expires || len(m.Signatures) != 1 || m.Hash != m.DigestHex() {
		t.Fatalf("manifest %+v", m)
	}
	if len(m.Components) != 1 || m.Components[0] != f.m.Components[0] {
		t.Errorf("components %+v, want the release's %+v", m.Components, f.m.Components)
	}
	if plan.RollbackOf != 1000 || plan.Encoding != "cbor" || plan.Targets[0] != deviceA || len(plan.Files) != 0 {
		t.Errorf("plan %+v", plan)
	}
	if back, err := release.ParseCBOR(plan.Payload); err != nil || back.Hash != m.Hash {
		t.Errorf("payload: %v", err)
	}

	// A sequence and an encoding asked for are kept.
	req.Sequence, req.Encoding = 9000, "json"
	plan, err = p.PlanRollback(ctx, req)
	if err != nil || plan.Manifest.SequenceNumber != 9000 || plan.Encoding != "json" || !bytes.HasPrefix(plan.Payload, []byte("{")) {
		t.Fatalf("%+v, %v", plan, err)
	}

	// The rollback publishes like any release, its artifact already there.
	b.retained[mainTopic] = f.data
	rep, err := p.Publish(ctx, plan)
	if err != nil || rep.RollbackOf != 1000 || rep.Artifacts[0].Action != "verified" {
		t.Fatalf("publish: %+v, %v", rep, err)
	}
}

func TestPlanRollbackRefuses(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	p, _ := publisher(b)

	_, err := p.PlanRollback(ctx, RollbackRequest{To: 1000, BuiltAt: time.Unix(5000, 0)})
	if err == nil || err.Error() != "release 1000 is not in the catalog (.u/releases/1000)" || !strings.Contains(hint.Of(err), "release list") {
		t.Fatalf("not in the catalog: %v", err)
	}

	published(t, b, f, "json")
	_, err = p.PlanRollback(ctx, RollbackRequest{To: 1000, BuiltAt: time.Unix(5000, 0), Trust: TrustPolicy{RequireSignatures: true, Profile: "prod"}})
	if err == nil || !strings.HasPrefix(err.Error(), `rollback manifest: profile "prod" requires signatures`) {
		t.Fatalf("no key: %v", err)
	}
	signer := newSigner(t)
	other := newSigner(t)
	_, err = p.PlanRollback(ctx, RollbackRequest{To: 1000, BuiltAt: time.Unix(5000, 0), Signers: []crypto.Signer{other},
		Trust: TrustPolicy{Keys: []crypto.PublicKey{signer.Public()}}})
	if !errors.Is(err, release.ErrVerification) || !strings.HasPrefix(err.Error(), "rollback manifest: ") {
		t.Fatalf("signed by an untrusted key: %v", err)
	}
}
