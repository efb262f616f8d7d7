package publish

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/release"
)

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
