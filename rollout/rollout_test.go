package rollout

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
)

func TestParseSteps(t *testing.T) {
	good := map[string]string{"10%,50%,100%": "10%,50%,100%", " 1% , cohort:canary ,12.5%,100%": "1%,cohort:canary,12.5%,100%", "cohort:beta": "cohort:beta"}
	bad := map[string]string{"": "no stage", "50%,10%": "must grow", "10%,10%": "must grow", "100%,cohort:x": "after 100%",
		"0%": "bad stage", "150%": "bad stage", "ten": "bad stage", "cohort:a/b": "cohort", "cohort:x,cohort:x": "twice"}
	type tcase struct{ in, want, err string }
	var cases []tcase
	for in, want := range good {
		cases = append(cases, tcase{in: in, want: want})
	}
	for in, err := range bad {
		cases = append(cases, tcase{in: in, err: err})
	}
	for _, tc := range cases {
		steps, err := ParseSteps(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSteps(%q) = %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || FormatSteps(steps) != tc.want {
			t.Errorf("ParseSteps(%q) = %q, %v; want %q", tc.in, FormatSteps(steps), err, tc.want)
		}
	}
}

func TestRunHealthy(t *testing.T) {
	l := newLab(t, 40)
	st, err := l.runner.Run(context.Background(), l.request("10%,50%,100%", OnFailurePause))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusDone || l.kinds() != "started:0 stage-started:1 published:1 gate-passed:1 stage-started:2 published:2 gate-passed:2 stage-started:3 published:3 gate-passed:3 done:0" {
		t.Fatalf("status %s, events %s", st.Status, l.kinds())
	}
	// Each percent stage published to the devices --percent chooses, a
	// growing set, and its gate counted all of them; the fleet stage
	// published the fleet topic and counted every reporting device.
	for i, pct := range []float64{10, 50} {
		var want []string
		for _, d := range mustKnown(t, l) {
			if publish.PercentChosen(d, pct) {
				want = append(want, d)
			}
		}
		if got := deviceNames(l.pub.plans[i].Targets); !slices.Equal(got, want) || !slices.Equal(l.judge.gates[i].Devices, want) {
			t.Errorf("stage %d: published %v, gated %v, want %v", i+1, got, l.judge.gates[i].Devices, want)
		}
	}
	if len(l.pub.plans[0].Targets) >= len(l.pub.plans[1].Targets) {
		t.Errorf("stages did not grow: %d then %d", len(l.pub.plans[0].Targets), len(l.pub.plans[1].Targets))
	}
	if g := l.judge.gates[2]; g.Expect != 40 || g.Devices != nil || l.desiredVersion(t, ".u/desired") != "1.1.0" {
		t.Errorf("fleet stage gate %+v, fleet desired %s", g, l.desiredVersion(t, ".u/desired"))
	}
	if l.judge.gates[0].Version != "1.1.0" || l.judge.gates[0].Package != "main" {
		t.Errorf("gate judges %s %s", l.judge.gates[0].Package, l.judge.gates[0].Version)
	}
	// The retained state says done, with each stage's counts; the lock is gone.
	got, err := ReadState(context.Background(), l.b, ".u/rollout/state")
	if err != nil || got.Status != StatusDone || got.Previous != 100 || got.Stages[1].Updated != len(l.judge.gates[1].Devices) || got.StartedBy != "ci@runner" {
		t.Errorf("state %+v, %v", got, err)
	}
	if _, held := l.b.retained[".u/rollout/lock"]; held {
		t.Error("the lock is still retained")
	}
	// Run again: already done, nothing published.
	if _, err := l.runner.Run(context.Background(), l.request("10%,50%,100%", OnFailurePause)); err != nil || len(l.pub.plans) != 3 {
		t.Errorf("second run: %v, %d publishes", err, len(l.pub.plans))
	}
}

func mustKnown(t *testing.T, l *lab) []string {
	known, err := l.judge.Known(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return known
}

func TestRunFailedGate(t *testing.T) {
	for _, policy := range []string{OnFailurePause, OnFailureHalt, OnFailureRollback} {
		t.Run(policy, func(t *testing.T) {
			l := newLab(t, 40)
			// Stage 1: the first device updated, the others failed.
			l.judge.decide = func(g fleet.Gate) (fleet.GateResult, error) {
				res := failedAll(g)
				res.Failures = res.Failures[1:]
				res.Updated, res.FailedCount = 1, len(res.Failures)
				return res, nil
			}
			st, err := l.runner.Run(context.Background(), l.request("10%,50%,100%", policy))
			if !errors.Is(err, ErrHalted) {
				t.Fatalf("err %v, want ErrHalted", err)
			}
			stage := l.judge.gates[0].Devices
			if l.desiredVersion(t, ".u/desired") != "1.0.0" || len(l.judge.gates) != 1 {
				t.Fatalf("the fleet topic has %s after %d gates", l.desiredVersion(t, ".u/desired"), len(l.judge.gates))
			}
			restored := map[string]string{}
			for _, d := range stage {
				restored[d] = l.desiredVersion(t, "devices/"+d+"/.u/desired")
			}
			want := map[string]string{OnFailurePause: "1.1.0", OnFailureHalt: "1.0.0", OnFailureRollback: "1.0.0"}[policy]
			for i, d := range stage {
				w := want
				if policy == OnFailureHalt && i == 0 {
					w = "1.1.0" // updated: halt leaves it
				}
				if restored[d] != w {
					t.Errorf("device %s has %s, want %s", d, restored[d], w)
				}
			}
			wantStatus := map[string]string{OnFailurePause: StatusPaused, OnFailureHalt: StatusHalted, OnFailureRollback: StatusRolledBack}[policy]
			if st.Status != wantStatus || st.Stages[0].Status != StageFailed {
				t.Errorf("status %s, stage %s", st.Status, st.Stages[0].Status)
			}
			if policy != OnFailurePause {
				// The restore went through the publish core with a new
				// sequence above the release's, from the catalog's 100.
				rb := l.pub.plans[len(l.pub.plans)-1]
				if rb.RollbackOf != 100 || rb.Manifest.SequenceNumber <= 200 || !strings.Contains(l.kinds(), "gate-failed:1 restored:1") {
					t.Errorf("restore plan of %d as %d; events %s", rb.RollbackOf, rb.Manifest.SequenceNumber, l.kinds())
				}
			}
		})
	}
}

func TestRunPausedThenResumed(t *testing.T) {
	l := newLab(t, 40)
	fail := true
	l.judge.decide = func(g fleet.Gate) (fleet.GateResult, error) {
		if fail && g.Expect == 0 && len(l.judge.gates) == 2 {
			return failedAll(g), nil
		}
		return passed(g), nil
	}
	req := l.request("10%,50%,100%", OnFailurePause)
	if _, err := l.runner.Run(context.Background(), req); !errors.Is(err, ErrHalted) {
		t.Fatalf("err %v", err)
	}
	// Started again as it was, a paused rollout is refused; resume gates
	// stage 2 again and goes on, without publishing stage 1 again.
	if _, err := l.runner.Run(context.Background(), req); !errors.Is(err, ErrRefused) {
		t.Fatalf("start again: %v, want ErrRefused", err)
	}
	fail = false
	n := len(l.pub.plans)
	resume := Request{Plan: l.plan, Resume: true, Owner: "ops@laptop", Deadline: req.Deadline, Lease: req.Lease, Settle: req.Settle}
	st, err := l.runner.Run(context.Background(), resume)
	if err != nil || st.Status != StatusDone || st.By != "ops@laptop" {
		t.Fatalf("resume: %v, %+v", err, st)
	}
	if len(l.pub.plans) != n+2 || l.pub.plans[n].Targets[0].Kind != "device" {
		t.Errorf("resume published %d plans", len(l.pub.plans)-n)
	}
}

func TestRunResumesAfterDeath(t *testing.T) {
	l := newLab(t, 40)
	req := l.request("10%,50%,100%", OnFailurePause)
	// A run that died in stage 2's gate: ctx cancelled there.
	ctx, cancel := context.WithCancel(context.Background())
	l.judge.decide = func(g fleet.Gate) (fleet.GateResult, error) {
		if len(l.judge.gates) == 2 {
			cancel()
			return fleet.GateResult{}, ctx.Err()
		}
		return passed(g), nil
	}
	if _, err := l.runner.Run(ctx, req); err == nil {
		t.Fatal("the interrupted run returned no error")
	}
	st, _ := ReadState(context.Background(), l.b, ".u/rollout/state")
	if st.Status != StatusRunning || st.Stage != 1 || st.Stages[0].Status != StagePassed {
		t.Fatalf("state after death %+v", st)
	}
	l.judge.decide = func(g fleet.Gate) (fleet.GateResult, error) { return passed(g), nil }
	l.events = nil
	n := len(l.pub.plans)
	if st, err := l.runner.Run(context.Background(), req); err != nil || st.Status != StatusDone {
		t.Fatalf("rerun: %v", err)
	}
	if l.kinds() != "resumed:2 stage-started:2 published:2 gate-passed:2 stage-started:3 published:3 gate-passed:3 done:0" || len(l.pub.plans) != n+2 {
		t.Errorf("rerun events %s, %d publishes", l.kinds(), len(l.pub.plans)-n)
	}
}

func TestRunRefusals(t *testing.T) {
	l := newLab(t, 10)
	req := l.request("50%,100%", OnFailureRollback)

	// A live lock of another run.
	other, err := Acquire(context.Background(), l.b, ".u/rollout/lock", LockOptions{Owner: "alice@ci", Lease: 60e9, Now: l.runner.Now})
	if err != nil {
		t.Fatal(err)
	}
	var held *HeldError
	if _, err := l.runner.Run(context.Background(), req); !errors.As(err, &held) || held.Holder.Owner != "alice@ci" || !errors.Is(err, ErrRefused) {
		t.Fatalf("with a held lock: %v", err)
	}
	_ = other.Release(context.Background())

	// A signed release cannot be restored without keys.
	signed := *l.rel
	signed.Signatures = []release.Signature{{KeyID: "k", Alg: "ed25519", Sig: "s"}}
	plan := *l.plan
	plan.Manifest = &signed
	r2 := req
	r2.Plan = &plan
	if _, err := l.runner.Run(context.Background(), r2); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "signed") {
		t.Errorf("signed release without --sign: %v", err)
	}
	// No earlier release to restore.
	delete(l.b.retained, ".u/releases/100")
	if _, err := l.runner.Run(context.Background(), req); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no earlier release") {
		t.Errorf("no previous release: %v", err)
	}
	if len(l.pub.plans) != 0 {
		t.Errorf("%d publishes after refusals", len(l.pub.plans))
	}
	// Another rollout in progress refuses a different release.
	req.OnFailure = OnFailurePause
	l.judge.decide = func(g fleet.Gate) (fleet.GateResult, error) { return failedAll(g), nil }
	if _, err := l.runner.Run(context.Background(), req); !errors.Is(err, ErrHalted) {
		t.Fatal(err)
	}
	req.Steps = req.Steps[1:]
	if _, err := l.runner.Run(context.Background(), req); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "is paused at stage 1") {
		t.Errorf("other steps while paused: %v", err)
	}
	// Abort ends it; a new rollout may then start.
	if st, err := Abort(context.Background(), l.b, "ops", l.runner.Now, 0); err != nil || st.Status != StatusAborted {
		t.Fatalf("abort: %v", err)
	}
	if _, err := Abort(context.Background(), l.b, "ops", l.runner.Now, 0); err == nil {
		t.Error("a second abort found a rollout")
	}
}

func TestRunTimeout(t *testing.T) {
	l := newLab(t, 10)
	l.judge.decide = func(fleet.Gate) (fleet.GateResult, error) { return fleet.GateResult{}, context.DeadlineExceeded }
	req := l.request("50%,100%", OnFailureRollback)
	req.Deadline = l.runner.Now() // already past
	st, err := l.runner.Run(context.Background(), req)
	// The deadline passed before stage 1 began: it stays pending, and the
	// error says so instead of counting 0 of 0 devices.
	if !errors.Is(err, ErrTimedOut) || st.Status != StatusPaused || st.Stages[0].Status != StagePending ||
		!strings.Contains(err.Error(), "the deadline passed before stage 1 (50%) began") || strings.Contains(err.Error(), "0 of 0") {
		t.Fatalf("err %v, state %+v", err, st)
	}
}

// TestRunGateDecidedAtDeadline: a gate decided by the reports that came
// just before the deadline (the judge's last look) is acted on as
// decided: a failed one restores (exit 4, not a timeout with nothing
// restored), a passed last stage ends the rollout done, a passed stage
// before others is recorded passed and the next one times out.
func TestRunGateDecidedAtDeadline(t *testing.T) {
	for _, policy := range []string{OnFailureHalt, OnFailureRollback} {
		t.Run(policy, func(t *testing.T) {
			l := newLab(t, 10)
			l.judge.late = true
			l.judge.decide = func(g fleet.Gate) (fleet.GateResult, error) { return failedAll(g), nil }
			req := l.request("50%,100%", policy)
			req.Deadline = time.Now().Add(50 * time.Millisecond)
			st, err := l.runner.Run(context.Background(), req)
			if !errors.Is(err, ErrHalted) || errors.Is(err, ErrTimedOut) {
				t.Fatalf("err %v, want ErrHalted", err)
			}
			want := map[string]string{OnFailureHalt: StatusHalted, OnFailureRollback: StatusRolledBack}[policy]
			if st.Status != want || st.Stages[0].Status != StageFailed || st.Stages[0].Restored == 0 {
				t.Errorf("status %s, stage %s, %d restored; want %s, failed, restored", st.Status, st.Stages[0].Status, st.Stages[0].Restored, want)
			}
			for _, d := range l.judge.gates[0].Devices {
				if v := l.desiredVersion(t, "devices/"+d+"/.u/desired"); v != "1.0.0" {
					t.Errorf("device %s has %s, want 1.0.0 restored", d, v)
				}
			}
		})
	}
	t.Run("passed", func(t *testing.T) {
		l := newLab(t, 10)
		l.judge.late = true
		req := l.request("100%", OnFailureRollback)
		req.Deadline = time.Now().Add(50 * time.Millisecond)
		if st, err := l.runner.Run(context.Background(), req); err != nil || st.Status != StatusDone || st.Stages[0].Status != StagePassed {
			t.Fatalf("err %v, state %+v; want done", err, st)
		}
		l = newLab(t, 10)
		l.judge.late = true
		req = l.request("50%,100%", OnFailureRollback)
		req.Deadline = time.Now().Add(50 * time.Millisecond)
		st, err := l.runner.Run(context.Background(), req)
		if !errors.Is(err, ErrTimedOut) || st.Stages[0].Status != StagePassed || st.Stages[1].Status != StagePending || st.Stage != 1 {
			t.Fatalf("err %v, state %+v; want stage 1 passed, stage 2 not begun", err, st)
		}
	})
}

// TestRunFailedGateStateNotSaved: a failed gate whose restore went out
// but whose state could not be saved is still a failed gate (ErrHalted,
// exit 4), with the save's error in the message.
func TestRunFailedGateStateNotSaved(t *testing.T) {
	l := newLab(t, 10)
	l.judge.decide = func(g fleet.Gate) (fleet.GateResult, error) {
		l.b.mu.Lock()
		defer l.b.mu.Unlock()
		l.b.refuse = func(topic string) error {
			if topic == (protocol.Topics{}).RolloutState() {
				return errors.New("broker refused the state")
			}
			return nil
		}
		return failedAll(g), nil
	}
	_, err := l.runner.Run(context.Background(), l.request("50%,100%", OnFailureRollback))
	if !errors.Is(err, ErrHalted) || !strings.Contains(err.Error(), "saving the rollout's state failed: rollout state: broker refused the state") {
		t.Fatalf("err %v, want ErrHalted with the save's error", err)
	}
	if !strings.Contains(l.kinds(), "restored:1") || l.desiredVersion(t, ".u/desired") != "1.0.0" {
		t.Errorf("events %s, fleet topic %s: want the restore done", l.kinds(), l.desiredVersion(t, ".u/desired"))
	}
}

// TestAbortBeforeStagePublish: an abort after a stage saved its state
// and before it publishes leaves the release unpublished: the run finds
// its lock gone before the publish and stops (ErrRefused, exit 3).
func TestAbortBeforeStagePublish(t *testing.T) {
	l := newLab(t, 10)
	l.judge.known = func() {
		if _, err := Abort(context.Background(), l.b, "ops", l.runner.Now, 0); err != nil {
			t.Errorf("abort: %v", err)
		}
	}
	_, err := l.runner.Run(context.Background(), l.request("100%", OnFailureRollback))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err %v, want ErrRefused", err)
	}
	if v := l.desiredVersion(t, ".u/desired"); v != "1.0.0" || len(l.pub.plans) != 0 {
		t.Errorf("the fleet topic has %s after %d publishes; want 1.0.0, none", v, len(l.pub.plans))
	}
	st, err := ReadState(context.Background(), l.b, (protocol.Topics{}).RolloutState())
	if err != nil || st.Status != StatusAborted {
		t.Errorf("state %+v, %v; want aborted", st, err)
	}
}

func TestBakeNewFailureFailsStage(t *testing.T) {
	l := newLab(t, 20)
	l.judge.bake = func(g fleet.Gate) fleet.GateResult {
		res := passed(g)
		res.FailedCount = 1
		return res
	}
	req := l.request("50%,100%", OnFailurePause)
	req.Bake = 1e9
	if _, err := l.runner.Run(context.Background(), req); !errors.Is(err, ErrHalted) || len(l.judge.gates) != 1 {
		t.Fatalf("err %v after %d gates", err, len(l.judge.gates))
	}
}

// A cohort stage publishes to the cohort's desired topic and gates on the
// cohort; a rollback there restores the cohort's topic, above what it
// retains.
func TestRunCohortStage(t *testing.T) {
	l := newLab(t, 10)
	l.judge.decide = func(g fleet.Gate) (fleet.GateResult, error) {
		if slices.Equal(g.Cohorts, []string{"canary"}) {
			return fleet.GateResult{Verdict: "failed", Failed: true, TooManyFailed: true, Total: 3, FailedCount: 3}, nil
		}
		return passed(g), nil
	}
	_, err := l.runner.Run(context.Background(), l.request("cohort:canary,100%", OnFailureRollback))
	if !errors.Is(err, ErrHalted) {
		t.Fatal(err)
	}
	if len(l.pub.plans) != 2 || l.pub.plans[0].Targets[0].Topic != "cohorts/canary/.u/desired" || !slices.Equal(l.judge.gates[0].Cohorts, []string{"canary"}) || l.judge.gates[0].Devices != nil {
		t.Fatalf("plans %d, gate %+v", len(l.pub.plans), l.judge.gates[0])
	}
	rb := l.pub.plans[1]
	if rb.Targets[0].Topic != "cohorts/canary/.u/desired" || l.desiredVersion(t, "cohorts/canary/.u/desired") != "1.0.0" || rb.Manifest.SequenceNumber <= 200 {
		t.Errorf("restore to %v as %d", rb.Targets, rb.Manifest.SequenceNumber)
	}
}

func TestEventText(t *testing.T) {
	g := &GateCounts{Total: 5, Updated: 1, Need: 5, Failed: 2, Pending: 2}
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Kind: EventPublished, Stage: 1, Stages: 3, Step: "10%", Targets: 1}, "stage 1/3 10%: published to 1 target, waiting for the gate"},
		{Event{Kind: EventGate, Stage: 2, Stages: 3, Step: "50%", Gate: g}, "stage 2/3 50%: 1/5 updated (need 5), 2 failed (allowed 0), 2 pending"},
		{Event{Kind: EventGateFailed, Stage: 1, Stages: 2, Step: "cohort:c", Gate: g, Failures: []Failure{{"d1", "integrity-check-failed"}}},
			"stage 1/2 cohort:c: gate failed: 1/5 updated (need 5), 2 failed (allowed 0), 2 pending\n  d1: integrity-check-failed"},
		{Event{Kind: EventDone, Sequence: 7, Version: "1.1.0"}, "rollout done: release 7 (1.1.0) on every stage"},
	} {
		if got := tc.e.Text(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.e.Kind, got, tc.want)
		}
	}
}

// TestAbortDuringRestore: an abort that lands after a gate failed and
// before the restore went out is the refusal an abort is (exit 3, as
// docs/rollouts.md says), not a failed rollout whose restore failed
// (exit 4): nothing is restored.
func TestAbortDuringRestore(t *testing.T) {
	for _, onFailure := range []string{OnFailureRollback, OnFailurePause} {
		l := newLab(t, 10)
		l.judge.decide = func(g fleet.Gate) (fleet.GateResult, error) {
			if _, err := Abort(context.Background(), l.b, "ops", l.runner.Now, 0); err != nil {
				t.Errorf("abort: %v", err)
			}
			return fleet.GateResult{Verdict: "failed", Failed: true, TooManyFailed: true, Total: 10, FailedCount: 10}, nil
		}
		_, err := l.runner.Run(context.Background(), l.request("100%", onFailure))
		if !errors.Is(err, ErrRefused) || errors.Is(err, ErrHalted) {
			t.Fatalf("%s: err %v, want ErrRefused and not ErrHalted", onFailure, err)
		}
		if len(l.pub.plans) != 1 {
			t.Errorf("%s: %d publishes, want the stage's only (no restore)", onFailure, len(l.pub.plans))
		}
	}
}
