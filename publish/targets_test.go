package publish

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// reporting makes n devices dev-000... retain a state report.
func reporting(b *fakeBroker, n int) {
	for i := 0; i < n; i++ {
		topic, err := b.topics.Report(fmt.Sprintf("dev-%03d", i), "main")
		if err != nil {
			b.t.Fatal(err)
		}
		b.retained[topic] = []byte(`{"s":0,"r":0,"v":"1.0.0"}`)
	}
}

func TestTargetsPercentChoosesAmongReportingDevices(t *testing.T) {
	ctx := context.Background()
	b := newFakeBroker(t)
	reporting(b, 200)
	p, ev := publisher(b)
	f := newFixture(t, 1000, 10)

	chosen := func(pct float64, static ...Target) []Target {
		t.Helper()
		*ev = nil
		plan := f.plan(static...)
		plan.Percent = pct
		ts, err := p.Targets(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		if len(*ev) != 1 {
			t.Fatalf("events %+v, want one PercentSelected", *ev)
		}
		sel := (*ev)[0].(PercentSelected)
		if sel.Percent != pct || sel.Known != 200 || (len(static) == 0 && sel.Chosen != len(ts)) {
			t.Errorf("event %+v for %d targets", sel, len(ts))
		}
		return ts
	}
	s10, s30 := chosen(10), chosen(30)
	if len(s10) == 0 || len(s10) >= len(s30) || len(chosen(100)) != 200 {
		t.Fatalf("10%%: %d, 30%%: %d", len(s10), len(s30))
	}
	in := map[string]bool{}
	for _, tg := range s30 {
		in[tg.Topic] = true
	}
	for _, tg := range s10 {
		if !in[tg.Topic] || tg.Kind != "device" || tg.Topic != "devices/"+tg.Name+"/.u/desired" || !PercentChosen(tg.Name, 10) {
			t.Errorf("%+v: chosen at 10%% but not kept at 30%%, or not a device target", tg)
		}
	}

	// A device also given by name is one target.
	named := s10[0]
	with := chosen(10, named)
	if len(with) != len(s10) || with[0] != named {
		t.Errorf("with %s named: %d targets, first %+v", named.Name, len(with), with[0])
	}
}

func TestTargetsWithoutPercentAreThePlans(t *testing.T) {
	b := newFakeBroker(t)
	p, ev := publisher(b)
	plan := newFixture(t, 1000, 10).plan(deviceA, fleet)
	ts, err := p.Targets(context.Background(), plan)
	if err != nil || len(ts) != 2 || ts[0] != deviceA || ts[1] != fleet || len(*ev) != 0 {
		t.Fatalf("%+v, %v, events %+v", ts, err, *ev)
	}
}

func TestTargetsPercentWithoutReportsFails(t *testing.T) {
	b := newFakeBroker(t)
	p, _ := publisher(b)
	plan := newFixture(t, 1000, 10).plan()
	plan.Percent = 10
	_, err := p.Targets(context.Background(), plan)
	if err == nil || !strings.Contains(err.Error(), "no device state reports under devices/+/.u/c/+") || hintOf(err) == "" {
		t.Fatalf("%v", err)
	}
}

func TestPercentChosenGrows(t *testing.T) {
	for i := 0; i < 2000; i++ {
		id := fmt.Sprintf("device-%d", i)
		was := false
		for _, p := range []float64{0.5, 1, 5, 10, 25, 50, 75, 99.9, 100} {
			now := PercentChosen(id, p)
			if was && !now {
				t.Fatalf("%s chosen below %g%% but not at it", id, p)
			}
			was = now
		}
		if !was {
			t.Fatalf("%s not chosen at 100%%", id)
		}
	}
}
