package rollout

import (
	"context"
	"errors"
	"fmt"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
)

// stage runs stage i: publish to its targets through the publish core,
// wait for its gate, bake, and mark it passed. A failed gate is handled
// by fail. The publish, the gate and the bake end at dctx's deadline (the
// rollout's); what follows a gate decided by then (the restore of a
// failed one, the state of a passed one) runs on ctx, so that a verdict
// reached at the deadline is acted on and recorded.
func (r *Runner) stage(runCtx, ctx context.Context, req *Request, st *State, i int) error {
	step, ss := req.Steps[i], &st.Stages[i]
	ev := Event{Stage: i + 1, Stages: len(req.Steps), Step: step.String()}
	st.Stage, ss.Status, ss.Started = i, StagePublishing, r.Now().UTC()
	if err := r.save(ctx, st); err != nil {
		return err
	}
	r.emit(with(ev, Event{Kind: EventStageStarted, Sequence: st.Sequence, Version: st.Version}))

	plan := *req.Plan
	plan.Targets, plan.Percent = nil, 0
	switch step.Kind {
	case Percent:
		// The devices --percent chooses (publish.PercentTargets), so that
		// the gate knows them.
		chosen, known, err := publish.PercentTargets(ctx, r.Broker, r.Broker.Topics(), step.Percent)
		if err != nil {
			return err
		}
		if len(chosen) == 0 {
			ss.Status, ss.Ended = StagePassed, r.Now().UTC()
			r.emit(with(ev, Event{Kind: EventGatePassed, Message: fmt.Sprintf("no device of the %d reporting falls in %s: nothing to publish", known, step)}))
			return r.save(ctx, st)
		}
		plan.Targets = chosen
	case Cohort:
		topic, err := r.Broker.Topics().Cohort(step.Cohort)
		if err != nil {
			return err
		}
		plan.Targets = []publish.Target{{Kind: protocol.Cohort, Name: step.Cohort, Topic: topic}}
	case Fleet:
		plan.Targets = []publish.Target{{Kind: protocol.Fleet, Topic: r.Broker.Topics().Fleet()}}
	}
	gate, err := r.gate(ctx, req, step)
	if err != nil {
		return err
	}
	if err := r.held(ctx); err != nil {
		return err
	}
	rep, err := r.Publisher.Publish(ctx, &plan)
	var lost *publish.AntiRollbackError
	if partial := (*publish.PartialError)(nil); errors.As(err, &partial) && !errors.As(err, &lost) {
		return r.unconfirmed(ctx, st, ev, partial)
	} else if lost != nil {
		// A higher release published concurrently to some of the
		// stage's targets: someone else is publishing; the rollout
		// stops there (exit 3), as when it took all of them.
		return lost
	} else if err != nil {
		return err
	}
	targets := publishedTargets(rep)
	ss.Targets = len(targets)
	if step.Kind == Percent {
		gate.Devices = deviceNames(plan.Targets)
	}
	ss.Status = StageGating
	if err := r.save(ctx, st); err != nil {
		return err
	}
	r.emit(with(ev, Event{Kind: EventPublished, Targets: ss.Targets, Sequence: st.Sequence, Endpoints: rep.Endpoints}))

	var last GateCounts
	res, err := r.Judge.Await(ctx, gate, func(res fleet.GateResult) {
		count(ss, res)
		if c := countsOf(res); *c != last {
			last = *c
			r.emit(with(ev, Event{Kind: EventGate, Gate: c}))
		}
	})
	count(ss, res)
	if err != nil {
		return err
	}
	if res.Failed {
		return r.fail(runCtx, req, st, i, res, targets)
	}
	r.emit(with(ev, Event{Kind: EventGatePassed, Gate: countsOf(res)}))
	if req.Bake > 0 {
		ss.Status = StageBaking
		if err := r.save(ctx, st); err != nil {
			return err
		}
		baked, err := r.Judge.Bake(ctx, gate, req.Bake, res.FailedCount)
		count(ss, baked)
		if err != nil {
			return err
		}
		if baked.FailedCount > res.FailedCount {
			baked.Failed, baked.Verdict = true, "failed"
			return r.fail(runCtx, req, st, i, baked, targets)
		}
		r.emit(with(ev, Event{Kind: EventBaked, Gate: countsOf(baked), Message: req.Bake.String()}))
	}
	ss.Status, ss.Ended = StagePassed, r.Now().UTC()
	if i+1 < len(req.Steps) {
		st.Stage = i + 1
	}
	return r.save(runCtx, st)
}

// unconfirmed stops the rollout at a stage whose publish went out on the
// publishing connection but was not confirmed on every other endpoint
// (docs/publishing.md, "Several endpoints"): the state is saved as
// paused, nothing is restored, and the error stays a
// *publish.PartialError (exit 6) whose hint says how to go on.
func (r *Runner) unconfirmed(ctx context.Context, st *State, ev Event, partial *publish.PartialError) error {
	if ctx.Err() != nil {
		return partial
	}
	st.Status = StatusPaused
	st.Message = fmt.Sprintf("stage %d (%s) published but not confirmed: %v", ev.Stage, ev.Step, partial.Err)
	var eps []publish.EndpointResult
	if rep, ok := partial.Result.(*publish.Report); ok {
		st.Stages[ev.Stage-1].Targets, eps = len(publishedTargets(rep)), rep.Endpoints
	}
	next := "the stage's desired manifest went out but could not be confirmed on every target (see the error): 'otactl rollout resume' publishes the stage again, confirms it and gates it; 'otactl rollout abort' ends the rollout"
	if len(eps) > 0 {
		next = "devices on that endpoint may not see the stage yet: check the bridge or cluster (otactl doctor), then 'otactl rollout resume' publishes the stage again, confirms it everywhere and gates it; 'otactl rollout abort' ends the rollout"
	}
	if err := r.save(ctx, st); err != nil {
		next = fmt.Sprintf("the state could not be saved as paused (%v): run the same 'otactl rollout start' again, once the endpoint is fixed, to finish the stage", err)
	}
	r.emit(with(ev, Event{Kind: EventPaused, Sequence: st.Sequence, Endpoints: eps, Status: st.Status, Message: st.Message}))
	return &publish.PartialError{Err: fmt.Errorf("rollout paused: %w", partial.Err), Next: next}
}

// with is e with the stage's fields of ev.
func with(ev, e Event) Event {
	e.Stage, e.Stages, e.Step = ev.Stage, ev.Stages, ev.Step
	return e
}

// gate is stage step's gate: a percent stage counts the devices it
// targeted, all it chose so far (set after the publish); a cohort stage
// the cohort's devices; the fleet stage every device that reports, at
// least as many as report now.
func (r *Runner) gate(ctx context.Context, req *Request, step Step) (fleet.Gate, error) {
	g := req.Gate
	g.Devices, g.Cohorts, g.Expect = nil, nil, 0
	switch step.Kind {
	case Cohort:
		g.Cohorts = []string{step.Cohort}
	case Fleet:
		known, err := r.Judge.Known(ctx)
		if err != nil {
			return g, err
		}
		g.Expect = len(known)
	}
	return g, nil
}

// count records a gate's counts in the stage's state.
func count(ss *StageState, res fleet.GateResult) {
	if res.Verdict == "" {
		return
	}
	ss.Total, ss.Updated, ss.Failed, ss.Pending = res.Total, res.Updated, res.FailedCount, res.PendingCount
}

// publishedTargets are the targets a publish reached, this release now
// or already there.
func publishedTargets(rep *publish.Report) []publish.Target {
	var out []publish.Target
	for _, t := range rep.Targets {
		if t.Action == publish.ActionPublished || t.Action == "unchanged" {
			out = append(out, publish.Target{Kind: t.Kind, Name: t.Name, Topic: t.Topic})
		}
	}
	return out
}

func deviceNames(ts []publish.Target) []string {
	out := []string{}
	for _, t := range ts {
		if t.Kind == protocol.Device {
			out = append(out, t.Name)
		}
	}
	return out
}

// fail handles stage i's failed gate as OnFailure says, saves the state
// and returns an error wrapping ErrHalted.
func (r *Runner) fail(ctx context.Context, req *Request, st *State, i int, res fleet.GateResult, targets []publish.Target) error {
	ss := &st.Stages[i]
	ss.Status, ss.Ended = StageFailed, r.Now().UTC()
	ev := Event{Stage: i + 1, Stages: len(req.Steps), Step: ss.Step}
	r.emit(with(ev, Event{Kind: EventGateFailed, Gate: countsOf(res), Failures: failuresOf(res)}))
	why := fmt.Sprintf("%d of %d devices failed (%d allowed), %d updated (need %d)", res.FailedCount, res.Total, res.Allowed, res.Updated, res.Need)
	var restore []publish.Target
	switch req.OnFailure {
	case OnFailureHalt:
		restore = r.notUpdated(res)
		st.Status = StatusHalted
	case OnFailureRollback:
		restore = targets
		st.Status = StatusRolledBack
	default:
		st.Status = StatusPaused
	}
	st.Message = fmt.Sprintf("gate failed at stage %d (%s): %s", i+1, ss.Step, why)
	if len(restore) > 0 {
		rep, seq, err := r.restore(ctx, req, st, restore)
		if errors.Is(err, ErrRefused) {
			// Aborted (the lock cleared by 'rollout abort') before the
			// restore went out: a refusal, exit 3, as docs/rollouts.md
			// says of an abort; nothing was restored.
			return err
		}
		if err != nil {
			st.Message += "; restoring the previous release failed: " + err.Error()
			_ = r.save(context.WithoutCancel(ctx), st)
			err = fmt.Errorf("%w: %s: restoring release %d: %w", ErrHalted, st.Message, st.Previous, err)
			if partial := (*publish.PartialError)(nil); errors.As(err, &partial) {
				// The restore is live on the publishing connection only.
				return &publish.PartialError{Err: err, Next: fmt.Sprintf("the rollout has ended, and devices on that endpoint may keep release %d: "+
					"check the bridge or cluster (otactl doctor), then publish release %d again there with 'otactl release rollback --to %d'", st.Sequence, st.Previous, st.Previous)}
			}
			return err
		}
		ss.Restored = len(rep.Targets)
		st.Message += fmt.Sprintf("; release %d restored on %d targets as sequence %d", st.Previous, ss.Restored, seq)
		r.emit(with(ev, Event{Kind: EventRestored, Targets: ss.Restored, Sequence: seq, Status: st.Status, Endpoints: rep.Endpoints,
			Message: fmt.Sprintf("release %d published again as sequence %d", st.Previous, seq)}))
	} else if req.OnFailure == OnFailurePause {
		r.emit(with(ev, Event{Kind: EventPaused, Status: st.Status, Message: st.Message}))
	}
	if err := r.save(ctx, st); errors.Is(err, ErrRefused) {
		// Aborted meanwhile: the refusal an abort is (exit 3), with what
		// this run did before it saw the abort.
		return fmt.Errorf("%w (%s)", err, st.Message)
	} else if err != nil {
		// The gate failed all the same, and what was restored stays.
		return hint.Wrap(fmt.Errorf("%w: %s; saving the rollout's state failed: %w", ErrHalted, st.Message, err),
			"the retained state may still say running: 'otactl rollout status' shows it, 'otactl rollout abort' ends the rollout")
	}
	next := "'otactl rollout resume' gates the stage again, 'otactl rollout abort' ends the rollout"
	if st.Status != StatusPaused {
		next = "the rollout has ended: fix the release and create a new one (a new sequence number)"
	}
	return hint.Wrap(fmt.Errorf("%w: %s", ErrHalted, st.Message), next)
}

// notUpdated are the device targets of the gate's devices that have not
// updated: failed and pending.
func (r *Runner) notUpdated(res fleet.GateResult) []publish.Target {
	var out []publish.Target
	for _, rows := range [][]fleet.Row{res.Failures, res.Pending} {
		for _, row := range rows {
			if topic, err := r.Broker.Topics().Device(row.Report.Device); err == nil {
				out = append(out, publish.Target{Kind: protocol.Device, Name: row.Report.Device, Topic: topic})
			}
		}
	}
	return out
}

// restore publishes the previous release again to targets through the
// publish core (publish.PlanRollback): a new manifest, signed with the
// request's signers, whose sequence is above what the targets, the fleet
// and the stage's topics retain on every endpoint, so anti-rollback lets
// it through and devices take it over the release rolled out. It returns
// the publish's report and the new sequence.
func (r *Runner) restore(ctx context.Context, req *Request, st *State, targets []publish.Target) (*publish.Report, int64, error) {
	topics := r.Broker.Topics()
	over := append([]publish.Target{{Kind: protocol.Fleet, Topic: topics.Fleet()}}, targets...)
	if step := req.Steps[st.Stage]; step.Kind == Cohort {
		if topic, err := topics.Cohort(step.Cohort); err == nil {
			over = append(over, publish.Target{Kind: protocol.Cohort, Name: step.Cohort, Topic: topic})
		}
	}
	now := r.Now()
	seq := max(publish.RollbackSequence(ctx, r.Broker, topics, over, now), st.Sequence+1)
	for _, e := range r.Endpoints {
		seq = max(seq, publish.RollbackSequence(ctx, e.Reader, topics, over, now))
	}
	plan, err := r.Publisher.PlanRollback(ctx, publish.RollbackRequest{To: st.Previous, Sequence: seq, BuiltAt: now,
		Signers: req.Signers, Trust: req.Trust, Targets: targets, Strict: req.Plan.Strict, Encoding: req.Plan.Encoding})
	if err != nil {
		return nil, 0, err
	}
	if err := r.held(ctx); err != nil {
		return nil, 0, err
	}
	rep, err := r.Publisher.Publish(ctx, plan)
	return rep, seq, err
}
