package publish

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/catalog"
)

const catalogTopic = ".u/releases/1000"

func readEntry(t *testing.T, b *fakeBroker, topic string) *catalog.Entry {
	t.Helper()
	e, err := catalog.Parse(b.retained[topic])
	if err != nil {
		t.Fatalf("%s: %v", topic, err)
	}
	return e
}

func TestRecordCatalogRecordsThenMerges(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	p, ev := publisher(b)

	res, err := p.RecordCatalog(ctx, f.plan(), []Target{deviceA})
	if err != nil || res != (CatalogResult{Topic: catalogTopic, Action: "recorded"}) {
		t.Fatalf("%+v, %v", res, err)
	}
	if len(*ev) != 1 || (*ev)[0] != (CatalogDone{res}) {
		t.Errorf("events %+v", *ev)
	}
	e := readEntry(t, b, catalogTopic)
	if e.Hash != f.m.Hash || e.PublishedAt != "2026-01-01T00:00:00Z" || len(e.Targets) != 1 || e.Targets[0].Key() != "device:a" {
		t.Fatalf("entry %+v", e)
	}

	// The same targets again: nothing to add, nothing sent.
	b.sent = nil
	if res, err := p.RecordCatalog(ctx, f.plan(), []Target{deviceA}); err != nil || res.Action != "unchanged" || len(b.sent) != 0 {
		t.Fatalf("again: %+v, %v, sent %v", res, err, b.sent)
	}

	// A new target is merged in, an hour later.
	p.Now = func() time.Time { return testNow.Add(time.Hour) }
	if res, err := p.RecordCatalog(ctx, f.plan(), []Target{fleet}); err != nil || res.Action != "recorded" {
		t.Fatalf("merge: %+v, %v", res, err)
	}
	e = readEntry(t, b, catalogTopic)
	if len(e.Targets) != 2 || e.Targets[0].Key() != "device:a" || e.Targets[1].Key() != "fleet" || e.PublishedAt != "2026-01-01T01:00:00Z" {
		t.Errorf("merged entry %+v", e)
	}
}

func TestRecordCatalogKeepsRollbackOf(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	p, _ := publisher(b)
	plan := f.plan()
	plan.RollbackOf = 900
	if _, err := p.RecordCatalog(context.Background(), plan, []Target{fleet}); err != nil {
		t.Fatal(err)
	}
	plan.RollbackOf = 0
	if _, err := p.RecordCatalog(context.Background(), plan, []Target{deviceA}); err != nil {
		t.Fatal(err)
	}
	if e := readEntry(t, b, catalogTopic); e.RollbackOf != 900 {
		t.Errorf("rollbackOf %d, want 900", e.RollbackOf)
	}
}

func TestRecordCatalogReplacesWhatDoesNotParse(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	b.retained[catalogTopic] = []byte("{")
	p, ev := publisher(b)

	res, err := p.RecordCatalog(context.Background(), f.plan(), []Target{fleet})
	if err != nil || res.Action != "recorded" {
		t.Fatalf("%+v, %v", res, err)
	}
	w, ok := (*ev)[0].(Warning)
	if !ok || !strings.HasPrefix(w.Message, "catalog entry .u/releases/1000 does not parse (") {
		t.Errorf("events %+v", *ev)
	}
	readEntry(t, b, catalogTopic)
}

func TestRecordCatalogDryRun(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	p, _ := publisher(b)
	plan := f.dryRun()
	res, err := p.RecordCatalog(context.Background(), plan, []Target{fleet})
	if err != nil || res.Action != "would record" || len(b.sent) != 0 {
		t.Fatalf("%+v, %v, sent %v", res, err, b.sent)
	}
}

func TestRecordCatalogFailureAfterDesiredIsPartial(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	b.fail[catalogTopic] = errors.New("not authorized")
	p, _ := publisher(b)

	_, err := p.Publish(context.Background(), f.plan(fleet))
	var partial *PartialError
	if !errors.As(err, &partial) || err.Error() != "catalog: not authorized" {
		t.Fatalf("%v", err)
	}
	if b.retained[fleet.Topic] == nil {
		t.Error("the desired manifest is not retained")
	}
}

func TestReadCatalogSortsAndSkips(t *testing.T) {
	b := newFakeBroker(t)
	p, _ := publisher(b)
	for _, seq := range []int64{3000, 1000, 2000} {
		f := newFixture(t, seq, 10)
		plan := f.plan()
		if _, err := p.RecordCatalog(context.Background(), plan, []Target{fleet}); err != nil {
			t.Fatal(err)
		}
	}
	b.retained[".u/releases/4000"] = b.retained[".u/releases/1000"] // names another sequence
	b.retained[".u/releases/5000"] = []byte("{")
	ev := &events{}
	entries, err := ReadCatalog(context.Background(), b, b.topics, ev.observe)
	if err != nil || len(entries) != 3 {
		t.Fatalf("%d entries, %v", len(entries), err)
	}
	for i, seq := range []int64{1000, 2000, 3000} {
		if entries[i].SequenceNumber != seq {
			t.Errorf("entry %d is %d, want %d", i, entries[i].SequenceNumber, seq)
		}
	}
	var warned []string
	for _, e := range *ev {
		warned = append(warned, e.(Warning).Message)
	}
	if len(warned) != 2 || !strings.Contains(strings.Join(warned, "\n"), "skipping catalog entry .u/releases/4000: it names sequence 1000") {
		t.Errorf("warnings %q", warned)
	}
}
