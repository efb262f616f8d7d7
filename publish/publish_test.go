package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// TestPublishRunsTheStepsInOrder: artifacts before any desired manifest,
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
	want := []string{"publish.ArtifactSending", "publish.ArtifactDone", "publish.PercentSelected"}
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
