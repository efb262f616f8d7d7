package publish

import (
	"context"
	"testing"
)

func TestUnpublish(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1000, 10)
	b := newFakeBroker(t)
	b.retained[fleet.Topic] = payload(t, f.m)
	b.retained[deviceB.Topic] = []byte("garbage")
	p, ev := publisher(b)
	targets := []Target{fleet, deviceA, deviceB}

	got, err := p.Unpublish(ctx, targets, true)
	if err != nil || len(b.sent) != 0 {
		t.Fatalf("dry run: %v, sent %v", err, b.sent)
	}
	want := []TargetResult{
		{Kind: "fleet", Topic: fleet.Topic, Previous: 1000, Action: "would clear"},
		{Kind: "device", Name: "a", Topic: deviceA.Topic, Action: "empty"},
		{Kind: "device", Name: "b", Topic: deviceB.Topic, Action: "would clear"},
	}
	for i := range want {
		if got[i] != want[i] || (*ev)[i] != (TargetCleared{Target: targets[i], Result: want[i]}) {
			t.Errorf("dry run %d: %+v / %+v, want %+v", i, got[i], (*ev)[i], want[i])
		}
	}

	got, err = p.Unpublish(ctx, targets, false)
	if err != nil {
		t.Fatal(err)
	}
	want[0].Action, want[2].Action = "cleared", "cleared"
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(b.retained) != 0 {
		t.Errorf("still retained: %v", b.retained)
	}
}
