package publish

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/otactl/otactl/release"
)

func TestUnpublish(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	cborManifest, err := release.EncodeCBOR(f.m)
	if err != nil {
		t.Fatal(err)
	}
	b.retained[fleet.Topic] = payload(t, f.m)
	b.retained[deviceA.Topic] = cborManifest
	b.retained[deviceB.Topic] = []byte("garbage")
	cohort := Target{Kind: "cohort", Name: "c", Topic: "cohorts/c/.u/desired"}
	none := Target{Kind: "device", Name: "none", Topic: "devices/none/.u/desired"}
	p, ev := publisher(b)
	targets := []Target{fleet, deviceA, deviceB, cohort, none}
	b.retained[cohort.Topic] = []byte{0xa0}

	got, err := p.Unpublish(ctx, targets, UnpublishOptions{DryRun: true})
	if err != nil || len(b.sent) != 0 {
		t.Fatalf("dry run: %v, sent %v", err, b.sent)
	}
	// Each target gets the empty manifest in the encoding it retains.
	want := []TargetResult{
		{Kind: "fleet", Topic: fleet.Topic, Previous: 1000, Action: "would unpublish", Encoding: "json"},
		{Kind: "device", Name: "a", Topic: deviceA.Topic, Previous: 1000, Action: "would unpublish", Encoding: "cbor"},
		{Kind: "device", Name: "b", Topic: deviceB.Topic, Action: "would unpublish", Encoding: "json"},
		{Kind: "cohort", Name: "c", Topic: cohort.Topic, Action: "unchanged", Encoding: "cbor"},
		{Kind: "device", Name: "none", Topic: none.Topic, Action: "empty"},
	}
	for i := range want {
		if got[i] != want[i] || (*ev)[i] != (TargetCleared{Target: targets[i], Result: want[i]}) {
			t.Errorf("dry run %d: %+v / %+v, want %+v", i, got[i], (*ev)[i], want[i])
		}
	}

	got, err = p.Unpublish(ctx, targets, UnpublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want[0].Action, want[1].Action, want[2].Action = "unpublished", "unpublished", "unpublished"
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// Retained, so that devices connecting later see "no release" too.
	for topic, empty := range map[string]string{fleet.Topic: "{}", deviceA.Topic: "\xa0", deviceB.Topic: "{}", cohort.Topic: "\xa0"} {
		if string(b.retained[topic]) != empty {
			t.Errorf("%s retains %q, want %q", topic, b.retained[topic], empty)
		}
	}
	if _, found := b.retained[none.Topic]; found || len(b.sent) != 3 {
		t.Errorf("sent to %v, want the three targets that held a release", b.sent)
	}

	// An encoding given replaces the one retained; once there, nothing is
	// sent again.
	b.sent = nil
	got, err = p.Unpublish(ctx, []Target{fleet, deviceA}, UnpublishOptions{Encoding: "cbor"})
	if err != nil || got[0].Action != "unpublished" || got[1].Action != "unchanged" || !bytes.Equal(b.retained[fleet.Topic], []byte{0xa0}) || len(b.sent) != 1 {
		t.Errorf("--encoding cbor: %+v, %v, sent %v, fleet retains % x", got, err, b.sent, b.retained[fleet.Topic])
	}
	if _, err := p.Unpublish(ctx, []Target{fleet}, UnpublishOptions{Encoding: "xml"}); err == nil {
		t.Error("encoding xml: no error")
	}
}

// With Clear, unpublish deletes the retained message instead: nothing
// at all stays on the topic.
func TestUnpublishClear(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	b.retained[fleet.Topic] = payload(t, f.m)
	b.retained[deviceA.Topic] = []byte("{}")
	p, _ := publisher(b)
	targets := []Target{fleet, deviceA, deviceB}

	got, err := p.Unpublish(ctx, targets, UnpublishOptions{Clear: true, DryRun: true})
	if err != nil || len(b.sent) != 0 || got[0].Action != "would clear" || got[1].Action != "would clear" || got[2].Action != "empty" {
		t.Fatalf("dry run: %+v, %v, sent %v", got, err, b.sent)
	}
	got, err = p.Unpublish(ctx, targets, UnpublishOptions{Clear: true})
	want := []TargetResult{
		{Kind: "fleet", Topic: fleet.Topic, Previous: 1000, Action: "cleared"},
		{Kind: "device", Name: "a", Topic: deviceA.Topic, Action: "cleared"},
		{Kind: "device", Name: "b", Topic: deviceB.Topic, Action: "empty"},
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(b.retained) != 0 {
		t.Errorf("still retained: %v", b.retained)
	}
}

// A target that fails does not stop the others, and the error carries what
// every target did (for -o json): inside a *PartialError (exit 6) once
// something was sent, on its own (exit 1) when nothing was.
func TestUnpublishGoesOnPastAFailedTarget(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1000, 10)
	for _, clear := range []bool{false, true} {
		b := newFakeBroker(t)
		for _, topic := range []string{fleet.Topic, deviceA.Topic, deviceB.Topic} {
			b.retained[topic] = payload(t, f.m)
		}
		b.fail[deviceA.Topic] = errors.New("not authorized")
		p, ev := publisher(b)
		got, err := p.Unpublish(ctx, []Target{deviceA, deviceB, fleet}, UnpublishOptions{Clear: clear})
		var (
			partial *PartialError
			unpub   *UnpublishError
		)
		if !errors.As(err, &partial) || !errors.As(err, &unpub) || partial.Result != unpub.Report {
			t.Fatalf("clear %v: %v, want a partial unpublish error", clear, err)
		}
		done := map[bool]string{false: ActionUnpublished, true: ActionCleared}[clear]
		rep := unpub.Report
		if len(got) != 3 || len(rep.Targets) != 3 || rep.Targets[0].Action != ActionFailed || rep.Targets[0].Error != "not authorized" ||
			rep.Targets[1].Action != done || rep.Targets[2].Action != done || len(*ev) != 3 {
			t.Fatalf("clear %v: targets %+v, events %d", clear, rep.Targets, len(*ev))
		}
		if want := "release unpublish failed on 1 target of 3: device a: not authorized"; err.Error() != want || rep.Error == "" {
			t.Errorf("clear %v: error %q (report %q), want %q", clear, err, rep.Error, want)
		}
		if _, found := b.retained[deviceB.Topic]; found != !clear || !strings.Contains(string(b.retained[deviceA.Topic]), "sequenceNumber") {
			t.Errorf("clear %v: retained %q", clear, b.retained)
		}
	}

	// Nothing sent: an error of its own (exit 1), with the report.
	b := newFakeBroker(t)
	b.readFail[deviceA.Topic] = errors.New("connection lost")
	p, _ := publisher(b)
	_, err := p.Unpublish(ctx, []Target{deviceA, deviceB}, UnpublishOptions{})
	var (
		partial *PartialError
		unpub   *UnpublishError
	)
	if errors.As(err, &partial) || !errors.As(err, &unpub) || len(unpub.Report.Targets) != 2 ||
		unpub.Report.Targets[0].Action != ActionFailed || unpub.Report.Targets[1].Action != ActionNothingRetained {
		t.Fatalf("nothing sent: %v (%+v)", err, unpub)
	}
}

// TestUnpublishInterruptedSaysHowFar: interrupted after its first target,
// an unpublish says which targets it took the release back from (the
// report, for -o json with exit 130), the others not unpublished.
func TestUnpublishInterruptedSaysHowFar(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	for _, topic := range []string{fleet.Topic, deviceA.Topic, deviceB.Topic} {
		b.retained[topic] = payload(t, f.m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, _ := publisher(b)
	p.Observe = func(e Event) {
		if _, ok := e.(TargetCleared); ok {
			cancel() // SIGINT after the first target
		}
	}
	_, err := p.Unpublish(ctx, []Target{deviceA, deviceB, fleet}, UnpublishOptions{})
	var partial *PartialError
	if !errors.As(err, &partial) || errors.Is(err, context.Canceled) || err.Error() != "interrupted with 1 of 3 targets holding no release" {
		t.Fatalf("%v, want a *PartialError saying how far it got", err)
	}
	rep := partial.Result.(*UnpublishReport)
	var got []string
	for _, r := range rep.Targets {
		got = append(got, r.Action)
	}
	if strings.Join(got, ", ") != "unpublished, not unpublished, not unpublished" {
		t.Errorf("actions %q", got)
	}
}
