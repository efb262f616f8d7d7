package publish

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/otactl/otactl/catalog"
	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/release"
)

// runDesired runs the anti-rollback and desired steps of plan on b.
func runDesired(t *testing.T, p *Publisher, plan *Plan) (*Desired, error) {
	t.Helper()
	d, err := p.AntiRollback(context.Background(), plan, plan.Targets)
	if err != nil {
		return nil, err
	}
	t.Cleanup(d.Close)
	return d, d.Publish(context.Background())
}

func targetEvents(ev events) []TargetDone {
	var out []TargetDone
	for _, e := range ev {
		if td, ok := e.(TargetDone); ok {
			out = append(out, td)
		}
	}
	return out
}

func TestAntiRollbackRefusesAHigherSequence(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	b.retained[deviceB.Topic] = payload(t, f.manifest(2000))
	p, _ := publisher(b)

	_, err := p.AntiRollback(context.Background(), f.plan(deviceA, deviceB), []Target{deviceA, deviceB})
	var ar *AntiRollbackError
	if !errors.As(err, &ar) || !errors.Is(err, release.ErrVerification) || ar.Lost {
		t.Fatalf("%v", err)
	}
	want := "verification failed: anti-rollback: sequence 1000 is not above what is published: device b retains sequence 2000"
	if err.Error() != want || !strings.Contains(hint.Of(err), "--force") {
		t.Errorf("error %q (hint %q), want %q", err, hint.Of(err), want)
	}
	if len(b.sent) != 0 {
		t.Errorf("sent %v after a refusal", b.sent)
	}

	// The same sequence number of another release is refused too.
	other := f.manifest(1000)
	other.Expires = "2030-01-01T00:00:00Z"
	other.Seal()
	b.retained[deviceB.Topic] = payload(t, other)
	if _, err := p.AntiRollback(context.Background(), f.plan(deviceB), []Target{deviceB}); !errors.As(err, &ar) {
		t.Errorf("another release of the same sequence: %v", err)
	}
}

func TestDesiredPublishesOverLowerAndReports(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	b.retained[fleet.Topic] = payload(t, f.manifest(500))
	p, ev := publisher(b)
	plan := f.plan(fleet, deviceA)

	d, err := runDesired(t, p, plan)
	if err != nil {
		t.Fatal(err)
	}
	want := []TargetResult{
		{Kind: "fleet", Topic: fleet.Topic, Previous: 500, Action: "published"},
		{Kind: "device", Name: "a", Topic: deviceA.Topic, Action: "published"},
	}
	got := d.Results()
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("results %+v", got)
	}
	for _, tg := range []Target{fleet, deviceA} {
		if !bytes.Equal(b.retained[tg.Topic], plan.Payload) {
			t.Errorf("%s does not retain the release", tg.Topic)
		}
	}
	tds := targetEvents(*ev)
	if len(tds) != 2 || tds[0] != (TargetDone{Target: fleet, Result: want[0], Sequence: 1000}) {
		t.Errorf("events %+v", tds)
	}
	if err := d.Finish(context.Background(), &Report{}); err != nil || len(d.Kept()) != 2 {
		t.Errorf("finish: %v, kept %v", err, d.Kept())
	}
}

func TestDesiredLeavesTheSameReleaseUnchanged(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	plan := f.plan(fleet)
	b.retained[fleet.Topic] = plan.Payload
	p, ev := publisher(b)

	d, err := runDesired(t, p, plan)
	if err != nil {
		t.Fatal(err)
	}
	if r := d.Results()[0]; r.Action != "unchanged" || r.Previous != 1000 || len(b.sent) != 0 {
		t.Fatalf("%+v, sent %v", r, b.sent)
	}
	if len(targetEvents(*ev)) != 1 || d.Finish(context.Background(), &Report{}) != nil {
		t.Errorf("events %+v", *ev)
	}

	// In another encoding it is published again.
	cbor, err := release.EncodeCBOR(f.m)
	if err != nil {
		t.Fatal(err)
	}
	plan.Payload, plan.Encoding = cbor, "cbor"
	d, err = runDesired(t, p, plan)
	if err != nil || d.Results()[0].Action != "published" || !bytes.Equal(b.retained[fleet.Topic], cbor) {
		t.Fatalf("cbor: %+v, %v", d.Results(), err)
	}
}

func TestDesiredForcePublishesOverHigher(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	b.retained[deviceA.Topic] = payload(t, f.manifest(2000))
	p, _ := publisher(b)
	plan := f.plan(deviceA)
	plan.Force = true

	d, err := runDesired(t, p, plan)
	if err != nil {
		t.Fatal(err)
	}
	if r := d.Results()[0]; r.Action != "published" || r.Previous != 2000 || !bytes.Equal(b.retained[deviceA.Topic], plan.Payload) {
		t.Fatalf("%+v", r)
	}
	if err := d.Finish(context.Background(), &Report{}); err != nil {
		t.Fatal(err)
	}
}

func TestDesiredSupersededIsAnError(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	higher := payload(t, f.manifest(2000))
	p, ev := publisher(b)
	// Another run publishes a higher sequence after this run's check and
	// before its publish, which replaces it.
	p.Hooks.BeforeEachDesired = func(topic string) { b.deliver(topic, higher) }

	d, err := runDesired(t, p, f.plan(fleet))
	if err != nil {
		t.Fatal(err)
	}
	if r := d.Results()[0]; r.Action != "superseded" || len(d.Kept()) != 0 || len(targetEvents(*ev)) != 0 {
		t.Fatalf("%+v, kept %v, events %+v", r, d.Kept(), *ev)
	}
	if !bytes.Equal(b.retained[fleet.Topic], higher) {
		t.Error("the higher release was not put back")
	}
	err = d.Finish(context.Background(), &Report{})
	var ar *AntiRollbackError
	if !errors.As(err, &ar) || !ar.Lost || !errors.Is(err, release.ErrVerification) {
		t.Fatalf("finish: %v", err)
	}
	if !strings.Contains(err.Error(), "did not stay on every target: a higher sequence 2000 was published to fleet (.u/desired) concurrently, and was put back after this run's publish replaced it") ||
		!strings.Contains(hint.Of(err), "another run published") {
		t.Errorf("finish: %v (hint %q)", err, hint.Of(err))
	}
}

func TestDesiredRefusesATargetSentHigherMeanwhile(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	p, _ := publisher(b)
	higher := payload(t, f.manifest(2000))
	p.Hooks.BeforeEachDesired = func(topic string) {
		if topic == deviceA.Topic {
			b.deliver(deviceB.Topic, higher)
		}
	}
	rep, err := p.Publish(context.Background(), f.plan(deviceA, deviceB))
	if rep != nil || !errors.Is(err, release.ErrVerification) || !strings.Contains(err.Error(), "device b was sent sequence 2000 concurrently: nothing published there") {
		t.Fatalf("%+v, %v", rep, err)
	}
	if !bytes.Equal(b.retained[deviceB.Topic], higher) || b.retained[deviceA.Topic] == nil {
		t.Error("device b should keep the higher release, device a this one")
	}
	// The catalog names the target the release stayed on.
	entry, err := catalog.Parse(b.retained[".u/releases/1000"])
	if err != nil || len(entry.Targets) != 1 || entry.Targets[0].Key() != "device:a" {
		t.Errorf("catalog entry %+v, %v", entry, err)
	}
}

func TestDesiredWarnsOfWhatIsNotAManifest(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	b.retained[fleet.Topic] = []byte("garbage")
	p, ev := publisher(b)

	d, err := runDesired(t, p, f.plan(fleet))
	if err != nil || d.Results()[0].Action != "published" || d.Results()[0].Previous != 0 {
		t.Fatalf("%+v, %v", d.Results(), err)
	}
	w, ok := (*ev)[0].(Warning)
	if !ok || !strings.HasPrefix(w.Message, ".u/desired retains 7 bytes that are not a manifest (") || !strings.HasSuffix(w.Message, "): replacing them") {
		t.Errorf("events %+v", *ev)
	}
}

func TestDesiredDryRunSendsNothing(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	p, ev := publisher(b)
	plan := f.dryRun(fleet)
	p.Hooks.BeforeDesired = func(context.Context) error { t.Error("BeforeDesired ran in a dry run"); return nil }

	d, err := runDesired(t, p, plan)
	if err != nil || d.Results()[0].Action != "would publish" || len(b.sent) != 0 {
		t.Fatalf("%+v, %v, sent %v", d.Results(), err, b.sent)
	}
	if tds := targetEvents(*ev); len(tds) != 1 || tds[0].Result.Action != "would publish" {
		t.Errorf("events %+v", *ev)
	}
}

func TestDesiredUnconfirmedIsPartial(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	b.settleErr = errors.New("read back: timed out")
	p, _ := publisher(b)

	_, err := p.Publish(context.Background(), f.plan(fleet))
	var partial *PartialError
	if !errors.As(err, &partial) || !strings.Contains(hint.Of(err), "may be live") || err.Error() != "read back: timed out" {
		t.Fatalf("%v", err)
	}

	// Before anything is sent, a failure is not partial.
	b2 := newFakeBroker(t)
	p2, _ := publisher(b2)
	p2.Hooks.BeforeDesired = func(context.Context) error { return errors.New("hook") }
	if _, err := p2.Publish(context.Background(), f.plan(fleet)); err == nil || errors.As(err, &partial) {
		t.Fatalf("nothing sent: %v", err)
	}

	// Interrupted once the manifest went out, it says how far the run
	// got (the command still exits 130: a cancelled context decides).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b3 := newFakeBroker(t)
	b3.settleErr = context.Canceled
	p3, _ := publisher(b3)
	_, err = p3.Publish(ctx, f.plan(fleet))
	if !errors.As(err, &partial) || partial.Result == nil || errors.Is(err, context.Canceled) ||
		!strings.HasPrefix(err.Error(), "interrupted after the desired manifest went out: published to 1 of 1 targets") {
		t.Fatalf("interrupted: %v", err)
	}
}
