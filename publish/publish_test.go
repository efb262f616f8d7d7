package publish

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/release"
)

// TestPublishRunsTheStepsInOrder: the targets chosen before anything is
// sent, artifacts before any desired manifest,
// the desired manifest before the catalog, and the events tell each as it
// happens.
func TestPublishRunsTheStepsInOrder(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	reporting(b, 50)
	p, ev := publisher(b)
	plan := f.plan(fleet)
	plan.Percent = 100

	rep, err := p.Publish(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if b.sent[0] != mainTopic || b.sent[len(b.sent)-1] != catalogTopic || len(b.sent) != 1+51+1 {
		t.Errorf("sent %v", b.sent)
	}
	var kinds []string
	for _, e := range *ev {
		kinds = append(kinds, fmt.Sprintf("%T", e))
	}
	want := []string{"publish.PercentSelected", "publish.ArtifactSending", "publish.ArtifactDone"}
	for range 51 {
		want = append(want, "publish.TargetDone")
	}
	want = append(want, "publish.CatalogDone")
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("events %v\nwant %v", kinds, want)
	}
	if rep.SequenceNumber != 1000 || rep.Hash != f.m.Hash || len(rep.Artifacts) != 1 || len(rep.Targets) != 51 || rep.Catalog.Action != "recorded" {
		t.Errorf("report %+v", rep)
	}
	if e := readEntry(t, b, catalogTopic); len(e.Targets) != 51 {
		t.Errorf("catalog names %d targets", len(e.Targets))
	}
}

// TestReportJSON pins the report's wire form: 'release publish -o json'
// prints it.
func TestReportJSON(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	p, _ := publisher(b)
	plan := f.dryRun(deviceA)
	rep, err := p.Publish(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"sequenceNumber":1000,"hash":"%s","encoding":"json","dryRun":true,"warnings":[],`+
		`"artifacts":[{"package":"main","version":"1.0.0","topic":".u/c/main@1.0.0","size":10,"sha256":"%s","action":"would upload"}],`+
		`"targets":[{"kind":"device","name":"a","topic":"devices/a/.u/desired","action":"would publish"}],`+
		`"catalog":{"topic":".u/releases/1000","action":"would record"}}`, f.m.Hash, f.m.Components[0].Hash)
	if !bytes.Equal(got, []byte(want)) {
		t.Errorf("report\n%s\nwant\n%s", got, want)
	}
	if len(b.sent) != 0 {
		t.Errorf("dry run sent %v", b.sent)
	}
}

// TestPublishLints: the lint is the first step of every publish. Its
// findings are told as warnings and returned in the report; in strict
// mode a finding refuses the plan before anything is sent.
func TestPublishLints(t *testing.T) {
	f := newFixture(t, 3000000000, 10)
	b := newFakeBroker(t)
	p, ev := publisher(b)
	plan := f.plan(deviceA)
	plan.Strict = true
	_, err := p.Publish(context.Background(), plan)
	var le *release.LintError
	if !errors.As(err, &le) || len(le.Findings) != 1 || le.Findings[0].Code != release.LintSequence {
		t.Fatalf("strict publish = %v, want a LintError", err)
	}
	if len(b.sent) != 0 || len(b.retained) != 0 || len(*ev) != 0 {
		t.Fatalf("strict publish sent %v, retains %d topics, told %v", b.sent, len(b.retained), *ev)
	}

	plan.Strict = false
	rep, err := p.Publish(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || rep.Warnings[0].Reads["cbor"] != "-1294967296" || rep.Warnings[0].Reads["json"] != "2147483647" {
		t.Errorf("report warnings %+v", rep.Warnings)
	}
	w, ok := (*ev)[0].(Warning)
	if !ok || !strings.HasPrefix(w.Message, release.LintSequence+": sequenceNumber 3000000000") {
		t.Errorf("first event %#v, want the finding as a warning", (*ev)[0])
	}
	j, _ := json.Marshal(rep)
	if !strings.Contains(string(j), `"warnings":[{"code":"sdk-sequence-int32","message":"sequenceNumber 3000000000`) || !strings.Contains(string(j), `"reads":{"cbor":"-1294967296","json":"2147483647"}`) {
		t.Errorf("report JSON %s", j)
	}
}

// TestRollbackIsLinted: a rollback's new manifest goes through the same
// lint: a sequence past int32 is refused in strict mode.
func TestRollbackIsLinted(t *testing.T) {
	ctx := context.Background()
	f, b := cborCatalog(t)
	b.retained[mainTopic] = f.data
	retained := len(b.retained)
	p, ev := publisher(b)
	req := RollbackRequest{To: 1000, Sequence: 3000000000, BuiltAt: time.Unix(5000, 0), Targets: []Target{deviceA},
		Signers: []crypto.Signer{newSigner(t)}, Strict: true}
	plan, err := p.PlanRollback(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	sent := len(b.sent)
	_, err = p.Publish(ctx, plan)
	var le *release.LintError
	if !errors.As(err, &le) || le.Findings[0].Code != release.LintSequence || !strings.Contains(err.Error(), "reads -1294967296") {
		t.Fatalf("strict rollback = %v", err)
	}
	if len(b.sent) != sent || len(b.retained) != retained {
		t.Errorf("strict rollback sent %v", b.sent[sent:])
	}
	plan.Strict = false
	*ev = nil
	rep, err := p.Publish(ctx, plan)
	if err != nil || len(rep.Warnings) != 1 {
		t.Fatalf("rollback: %+v, %v", rep, err)
	}
	if _, ok := (*ev)[0].(Warning); !ok {
		t.Errorf("first event %#v, want the finding", (*ev)[0])
	}
}

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

	// With another target, --percent only adds none.
	plan = f.plan(deviceA)
	plan.Percent = 0.001
	if rep, err := p.Publish(context.Background(), plan); err != nil || len(rep.Targets) != 1 {
		t.Errorf("with --device a: %v, %+v", err, rep)
	}
}
