package publish

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/otactl/otactl/release"
)

// TestPublishStoppedPartWayReports: a publish to three devices whose
// second target fails carries the report so far (exit 6 with it for -o
// json): the first published, the second failed with its error, the third
// not published to; no catalog entry.
func TestPublishStoppedPartWayReports(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	b.fail[deviceB.Topic] = errors.New("published 326 bytes but nothing is retained there")
	deviceC := Target{Kind: "device", Name: "c", Topic: "devices/c/.u/desired"}
	p, _ := publisher(b)

	_, err := p.Publish(context.Background(), f.plan(deviceA, deviceB, deviceC))
	var partial *PartialError
	if !errors.As(err, &partial) {
		t.Fatalf("%v, want a *PartialError", err)
	}
	rep, ok := partial.Result.(*Report)
	if !ok {
		t.Fatalf("result %T, want the report so far", partial.Result)
	}
	var got []string
	for _, r := range rep.Targets {
		got = append(got, r.Name+" "+r.Action)
	}
	if strings.Join(got, ", ") != "a published, b failed, c not published" {
		t.Errorf("targets %q", got)
	}
	if !strings.Contains(rep.Targets[1].Error, "nothing is retained there") || rep.Catalog.Action != "" {
		t.Errorf("b's error %q, catalog %+v", rep.Targets[1].Error, rep.Catalog)
	}
	if _, found := b.retained[catalogTopic]; found {
		t.Error("a catalog entry was recorded")
	}
}

// TestPublishDisplacedOnSomeTargets: a higher release published
// concurrently to one of two targets leaves this release live on the
// other: a *PartialError (exit 6) around the anti-rollback error, with the
// report (the catalog recorded for the target it stayed on).
func TestPublishDisplacedOnSomeTargets(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	higher := payload(t, f.manifest(2000))
	p, _ := publisher(b)
	p.Hooks.BeforeEachDesired = func(topic string) {
		if topic == deviceB.Topic {
			b.deliver(topic, higher)
		}
	}
	_, err := p.Publish(context.Background(), f.plan(deviceA, deviceB))
	var (
		partial *PartialError
		ar      *AntiRollbackError
	)
	if !errors.As(err, &partial) || !errors.As(err, &ar) || !ar.Lost || !errors.Is(err, release.ErrVerification) {
		t.Fatalf("%v, want a *PartialError around a lost *AntiRollbackError", err)
	}
	rep := partial.Result.(*Report)
	if rep.Targets[0].Action != "published" || rep.Targets[1].Action != "superseded" || rep.Catalog.Action != "recorded" {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(partial.Hint(), "stayed on 1 of 2 targets") {
		t.Errorf("hint %q", partial.Hint())
	}
}

// TestPublishPercentChoosingNoneSendsNothing: --percent that chooses none
// of the reporting devices is refused before any artifact is sent, and
// records no catalog entry.
func TestPublishPercentChoosingNoneSendsNothing(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	reporting(b, 5)
	p, _ := publisher(b)
	plan := f.plan()
	plan.Percent = 0.001

	_, err := p.Publish(context.Background(), plan)
	if err == nil || !strings.Contains(err.Error(), "--percent 0.001 chooses none of the 5 devices") {
		t.Fatalf("%v", err)
	}
	if len(b.sent) != 0 {
		t.Errorf("sent %v before refusing", b.sent)
	}
}
