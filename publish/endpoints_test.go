package publish

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// fakeEndpoint reads what broker b retains, as another endpoint would: b
// is the publishing broker itself for an endpoint that everything
// reaches (a cluster node, a bridged edge), or a broker of its own for
// one that nothing reaches. Topics in cut never reach it.
type fakeEndpoint struct {
	b   *fakeBroker
	cut map[string]bool
	// late topics reach it only from the given time on.
	late map[string]time.Time
}

func (e *fakeEndpoint) ReadRetained(ctx context.Context, topic string) ([]byte, bool, error) {
	if e.cut[topic] || time.Now().Before(e.late[topic]) {
		return nil, false, nil
	}
	return e.b.ReadRetained(ctx, topic)
}

func (e *fakeEndpoint) ReadRetainedAll(ctx context.Context, filter string, fn func(string, []byte)) error {
	return e.b.ReadRetainedAll(ctx, filter, func(topic string, p []byte) {
		if !e.cut[topic] {
			fn(topic, p)
		}
	})
}

func (e *fakeEndpoint) VerifyRetained(ctx context.Context, topic string, size int, sum [32]byte) error {
	if e.cut[topic] {
		return newFakeBroker(e.b.t).VerifyRetained(ctx, topic, size, sum)
	}
	return e.b.VerifyRetained(ctx, topic, size, sum)
}

// endpointPublisher is a publisher on b with endpoints eps, named
// mqtt://eN:1883.
func endpointPublisher(b *fakeBroker, eps ...*fakeEndpoint) (*Publisher, *events) {
	p, ev := publisher(b)
	p.URL = "mqtt://main:1883"
	for i, e := range eps {
		p.Endpoints = append(p.Endpoints, Endpoint{URL: "mqtt://e" + string(rune('1'+i)) + ":1883", Reader: e})
	}
	return p, ev
}

// TestPublishConfirmsEveryEndpoint: the artifacts are confirmed on every
// endpoint before any desired manifest is sent, and the manifest after.
func TestPublishConfirmsEveryEndpoint(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	p, ev := endpointPublisher(b, &fakeEndpoint{b: b}, &fakeEndpoint{b: b})

	rep, err := p.Publish(context.Background(), f.plan(fleet))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range *ev {
		switch e := e.(type) {
		case EndpointDone:
			order = append(order, e.Step+" "+e.URL)
		case TargetDone:
			order = append(order, "target")
		}
	}
	want := "[artifacts mqtt://e1:1883 artifacts mqtt://e2:1883 target desired manifest mqtt://e1:1883 desired manifest mqtt://e2:1883]"
	if got := "[" + strings.Join(order, " ") + "]"; got != want {
		t.Errorf("order %s\nwant  %s", got, want)
	}
	got, _ := json.Marshal(rep.Endpoints)
	if string(got) != `[{"url":"mqtt://main:1883","confirmed":true},{"url":"mqtt://e1:1883","confirmed":true},{"url":"mqtt://e2:1883","confirmed":true}]` {
		t.Errorf("endpoints %s", got)
	}
	if rep.Catalog.Action != "recorded" {
		t.Errorf("catalog %+v", rep.Catalog)
	}
}

// TestPublishStopsOnAnEndpointWithoutTheArtifact: an endpoint that the
// artifact does not reach fails the run, named, before any desired
// manifest is sent anywhere: exit 3, not 6.
func TestPublishStopsOnAnEndpointWithoutTheArtifact(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	p, _ := endpointPublisher(b, &fakeEndpoint{b: b}, &fakeEndpoint{b: newFakeBroker(t)})

	_, err := p.Publish(context.Background(), f.plan(fleet))
	var partial *PartialError
	if err == nil || errors.As(err, &partial) || !errors.Is(err, release.ErrVerification) ||
		!strings.Contains(err.Error(), "endpoint mqtt://e2:1883: artifact main@1.0.0") || !strings.Contains(err.Error(), "nothing was published") {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(hint.Of(err), "read-back wait") {
		t.Errorf("hint %q", hint.Of(err))
	}
	if _, found := b.retained[fleet.Topic]; found || len(b.sent) != 1 || b.sent[0] != mainTopic {
		t.Errorf("sent %v", b.sent)
	}
}

// TestAntiRollbackReadsEveryEndpoint: a higher sequence retained on any
// endpoint refuses the plan, naming the endpoint, and nothing desired is
// sent; --force publishes over it.
func TestAntiRollbackReadsEveryEndpoint(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	other := newFakeBroker(t)
	other.retained[mainTopic] = f.data
	other.retained[fleet.Topic] = payload(t, f.manifest(2000))
	p, _ := endpointPublisher(b, &fakeEndpoint{b: b}, &fakeEndpoint{b: other})

	_, err := p.Publish(context.Background(), f.plan(fleet))
	var ar *AntiRollbackError
	if !errors.As(err, &ar) || !strings.Contains(err.Error(), "fleet retains sequence 2000 on mqtt://e2:1883") {
		t.Fatalf("%v", err)
	}
	if _, found := b.retained[fleet.Topic]; found {
		t.Error("a desired manifest was published")
	}

	// The same release there does not count.
	other.retained[fleet.Topic] = payload(t, f.m)
	if _, err := p.Publish(context.Background(), f.plan(fleet)); err != nil {
		t.Fatalf("same release: %v", err)
	}
}

// TestDesiredNotConfirmedOnAnEndpointIsPartial: once the manifest is out,
// an endpoint that does not get it is exit 6, with a report saying what
// each endpoint confirmed.
func TestDesiredNotConfirmedOnAnEndpointIsPartial(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	p, _ := endpointPublisher(b, &fakeEndpoint{b: b}, &fakeEndpoint{b: b, cut: map[string]bool{fleet.Topic: true}})

	_, err := p.Publish(context.Background(), f.plan(fleet))
	var partial *PartialError
	if !errors.As(err, &partial) || !strings.Contains(err.Error(), "desired manifest not confirmed on every endpoint: endpoint mqtt://e2:1883: verification failed: .u/desired: nothing is retained there") {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(hint.Of(err), "run the same command again") {
		t.Errorf("hint %q", hint.Of(err))
	}
	rep, ok := partial.Result.(*Report)
	if !ok || len(rep.Endpoints) != 3 || !rep.Endpoints[0].Confirmed || !rep.Endpoints[1].Confirmed || rep.Endpoints[2].Confirmed ||
		rep.Endpoints[2].URL != "mqtt://e2:1883" || rep.Endpoints[2].Error != "verification failed: .u/desired: nothing is retained there (want "+strconv.Itoa(len(payload(t, f.m)))+" bytes)" {
		t.Fatalf("result %+v", partial.Result)
	}
	if _, found := b.retained[catalogTopic]; found {
		t.Error("catalog recorded")
	}
}

// TestUnpublishConfirmsEveryEndpoint: the empty manifest (or nothing,
// with Clear) is read back on every endpoint; one that still serves the
// release is exit 6, with what each confirmed.
func TestUnpublishConfirmsEveryEndpoint(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	b.retained[fleet.Topic] = payload(t, f.m)
	p, ev := endpointPublisher(b, &fakeEndpoint{b: b})
	if _, err := p.Unpublish(context.Background(), []Target{fleet}, UnpublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if e := (*ev)[len(*ev)-1]; e != (EndpointDone{Step: "unpublish", URL: "mqtt://e1:1883"}) {
		t.Errorf("event %+v", e)
	}

	stale := newFakeBroker(t)
	stale.retained[fleet.Topic] = payload(t, f.m)
	b.retained[fleet.Topic] = payload(t, f.m)
	p, _ = endpointPublisher(b, &fakeEndpoint{b: b}, &fakeEndpoint{b: stale})
	p.Endpoints[1].Wait = 100 * time.Millisecond
	_, err := p.Unpublish(context.Background(), []Target{fleet}, UnpublishOptions{Clear: true})
	var partial *PartialError
	if !errors.As(err, &partial) || !strings.Contains(err.Error(), "endpoint mqtt://e2:1883: .u/desired still retains") {
		t.Fatalf("%v", err)
	}
	got, _ := json.Marshal(partial.Result)
	if !strings.Contains(string(got), `"targets":[{"kind":"fleet","topic":".u/desired","previousSequence":1000,"action":"cleared"}]`) ||
		!strings.Contains(string(got), `{"url":"mqtt://e1:1883","confirmed":true},{"url":"mqtt://e2:1883","confirmed":false,"error":".u/desired still retains`) {
		t.Errorf("result %s", got)
	}
}

// TestRollbackSequenceIsAboveEveryEndpoint: a rollback's new sequence is
// above the highest any endpoint retains.
func TestRollbackSequenceIsAboveEveryEndpoint(t *testing.T) {
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	p, _ := publisher(b)
	if _, err := p.Publish(context.Background(), f.plan(fleet)); err != nil {
		t.Fatal(err)
	}
	other := newFakeBroker(t)
	other.retained[fleet.Topic] = payload(t, f.manifest(testNow.Unix()+50))
	p, _ = endpointPublisher(b, &fakeEndpoint{b: other})
	plan, err := p.PlanRollback(context.Background(), RollbackRequest{To: 1000, BuiltAt: testNow, Targets: []Target{fleet}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Manifest.SequenceNumber != testNow.Unix()+51 {
		t.Errorf("sequence %d", plan.Manifest.SequenceNumber)
	}
}

// TestEndpointsConfirmEveryBlock: an artifact published in blocks is
// confirmed on another endpoint by its index and every block (the whole
// topic may be over that endpoint's limit), and one block missing there
// stops the run before any desired manifest, naming the endpoint.
func TestEndpointsConfirmEveryBlock(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cut        map[string]bool
		maxPayload int64
		ok         bool
	}{
		{"whole topic over both limits", map[string]bool{mainTopic: true}, 2048, true},
		{"whole topic published but missing there", map[string]bool{mainTopic: true}, 0, false},
		{"a block missing", map[string]bool{upload.BlockTopic(mainTopic, 1): true}, 0, false},
		{"no index", map[string]bool{upload.BlockIndexTopic(mainTopic): true}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 1000, 3000)
			b := newFakeBroker(t)
			p, _ := endpointPublisher(b, &fakeEndpoint{b: b, cut: tc.cut})
			plan := f.plan(fleet)
			plan.BlockSize, plan.MaxPayload = 1024, tc.maxPayload
			_, err := p.Publish(context.Background(), plan)
			_, desired := b.retained[fleet.Topic]
			if tc.ok {
				if err != nil || !desired {
					t.Fatalf("err %v, desired sent %v", err, desired)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "endpoint mqtt://e1:1883: artifact main@1.0.0") || desired {
				t.Fatalf("err %v, desired sent %v", err, desired)
			}
		})
	}
}

// TestEndpointsWaitForALateIndex: the block index is published last, so
// over a bridge it arrives last; its read on another endpoint is tried
// again until the read-back wait has passed, and fails after it.
func TestEndpointsWaitForALateIndex(t *testing.T) {
	for _, wait := range []time.Duration{2 * time.Second, 0} {
		f := newFixture(t, 1000, 3000)
		b := newFakeBroker(t)
		ep := &fakeEndpoint{b: b, late: map[string]time.Time{upload.BlockIndexTopic(mainTopic): time.Now().Add(300 * time.Millisecond)}}
		p, _ := endpointPublisher(b, ep)
		p.Endpoints[0].Wait = wait
		plan := f.plan(fleet)
		plan.BlockSize, plan.MaxPayload = 1024, 2048
		_, err := p.Publish(context.Background(), plan)
		if (err == nil) != (wait > 0) {
			t.Errorf("read-back wait %s: %v", wait, err)
		}
	}
}

// TestEndpointsConfirmBlocksTheBrokerHolds: a component given without a
// file, which the publishing broker holds only in blocks, is confirmed on
// the other endpoints in blocks too, not as a whole message.
func TestEndpointsConfirmBlocksTheBrokerHolds(t *testing.T) {
	f := newFixture(t, 1000, 3000)
	b := newFakeBroker(t)
	plan := f.plan(fleet)
	plan.BlockSize, plan.MaxPayload = 1024, 2048
	first, _ := publisher(b)
	if _, err := first.Artifacts(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	p, _ := endpointPublisher(b, &fakeEndpoint{b: b})
	plan = f.plan(fleet)
	plan.Files = nil
	if _, err := p.Publish(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
}
