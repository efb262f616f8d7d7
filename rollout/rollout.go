package rollout

import (
	"cmp"
	"context"
	"crypto"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/publish"
)

// The failure policies of --on-failure.
const (
	OnFailurePause    = "pause"    // leave everything as it is
	OnFailureHalt     = "halt"     // restore the stage's devices not updated
	OnFailureRollback = "rollback" // restore every device of the stage
)

// ErrHalted is wrapped by a rollout stopped by a failed gate (exit 4);
// ErrTimedOut by one whose deadline passed (exit 5).
var (
	ErrHalted   = errors.New("rollout halted")
	ErrTimedOut = errors.New("rollout timed out")
)

// Publisher is what the engine needs of the publish core: a
// *publish.Publisher.
type Publisher interface {
	Publish(ctx context.Context, plan *publish.Plan) (*publish.Report, error)
	PlanRollback(ctx context.Context, req publish.RollbackRequest) (*publish.Plan, error)
}

// Judge follows the devices' reports (FleetJudge on a broker).
type Judge interface {
	// Known lists the devices that retain a state report.
	Known(ctx context.Context) ([]string, error)
	// Await judges g until it is decided (fleet.Source.Await); progress
	// gets each undecided result.
	Await(ctx context.Context, g fleet.Gate, progress func(fleet.GateResult)) (fleet.GateResult, error)
	// Bake follows g for d and returns the result at its end, or as soon
	// as more than baseline devices have failed.
	Bake(ctx context.Context, g fleet.Gate, d time.Duration, baseline int) (fleet.GateResult, error)
}

// Broker is what the engine reads and writes itself: the state, the
// lock, the catalog and desired topics.
type Broker interface {
	Retained
	ReadRetainedAll(ctx context.Context, filter string, fn func(topic string, payload []byte)) error
	Topics() protocol.Topics
}

// Request is a rollout to start or resume.
type Request struct {
	// Plan is the release as 'release publish' plans it; each stage sets
	// its targets.
	Plan  *publish.Plan
	Steps []Step
	// Package is what the gates judge ("": the release's only component,
	// else fleet.DefaultPackage).
	Package string
	// Gate holds MinUpdated, MaxFailed and RetryingAsPending.
	Gate      fleet.Gate
	Bake      time.Duration
	OnFailure string
	// Deadline ends the whole rollout (exit 5).
	Deadline time.Time
	// Signers sign a restore; Trust checks it (publish.RollbackRequest).
	Signers []crypto.Signer
	Trust   publish.TrustPolicy
	// Owner names who runs it: user@host, or the CI's actor and run.
	Owner string
	// Lease and Settle are the lock's (LockOptions).
	Lease, Settle time.Duration
	// Resume takes up a paused or interrupted rollout of this release,
	// with the plan in its state; without it a paused rollout is refused.
	Resume bool
}

// Runner runs rollouts on one broker.
type Runner struct {
	Broker    Broker
	Publisher Publisher
	// Endpoints are the other broker endpoints devices use
	// (docs/publishing.md, "Several endpoints"), the Publisher's: it
	// confirms every stage's publish and every restore on each, and a
	// restore's sequence is above what each retains.
	Endpoints []publish.Endpoint
	Judge     Judge
	Now       func() time.Time
	Observe   Observer

	lock *Lock // held during Run
}

func (r *Runner) emit(e Event) {
	if r.Observe != nil {
		e.Time = r.Now().UTC()
		r.Observe(e)
	}
}

// Run takes the lock, then starts the rollout or resumes it where its
// retained state says it stopped, and runs every stage left. It returns
// the final state and nil when done; an error wrapping ErrHalted when a
// gate failed (after restoring as OnFailure says), ErrTimedOut when the
// deadline passed, ErrRefused when it cannot run.
func (r *Runner) Run(ctx context.Context, req Request) (*State, error) {
	topics := r.Broker.Topics()
	lock, err := Acquire(ctx, r.Broker, topics.RolloutLock(), LockOptions{Owner: req.Owner, Lease: req.Lease, Settle: req.Settle, Now: r.Now})
	if err != nil {
		return nil, err
	}
	r.lock = lock
	defer func() { r.lock = nil }()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// The lock is released once its renewals have stopped, so that a
	// renewal in flight cannot put it back after the release.
	holdCtx, stopHold := context.WithCancel(ctx)
	held := make(chan struct{})
	go func() {
		defer close(held)
		lock.Hold(holdCtx, cancel)
	}()
	defer func() {
		stopHold()
		<-held
		_ = lock.Release(context.WithoutCancel(ctx))
	}()

	st, err := r.begin(ctx, &req)
	if err != nil || st.Status == StatusDone {
		return st, err
	}
	dctx, dcancel := context.WithDeadline(ctx, req.Deadline)
	defer dcancel()
	for i := st.Stage; i < len(req.Steps); i++ {
		if st.Stages[i].Status == StagePassed {
			continue
		}
		st.Stage = i // a stage passed without moving it on (no device in its percent) is behind
		if dctx.Err() != nil {
			return st, r.stopped(ctx, dctx, &req, st, dctx.Err())
		}
		if err := r.stage(ctx, dctx, &req, st, i); err != nil {
			return st, r.stopped(ctx, dctx, &req, st, err)
		}
	}
	st.Status, st.Message = StatusDone, ""
	if err := r.save(ctx, st); err != nil {
		return st, err
	}
	r.emit(Event{Kind: EventDone, Stages: len(req.Steps), Sequence: st.Sequence, Version: st.Version, Status: st.Status})
	return st, nil
}

// notBegunMessage starts the message of a rollout whose deadline passed
// before its next stage began.
const notBegunMessage = "the deadline passed before stage"

// stopped is the error of a stage that did not pass: a lost lock's
// cause, a timeout (saved as paused) or err. A gate that failed by the
// deadline stays failed (err wraps ErrHalted), even when its restore
// took the rollout past the deadline.
func (r *Runner) stopped(ctx, dctx context.Context, req *Request, st *State, err error) error {
	if cause := context.Cause(ctx); ctx.Err() != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	var partial *publish.PartialError
	if ctx.Err() == nil && dctx.Err() != nil && !errors.Is(err, ErrHalted) && !errors.As(err, &partial) {
		// (A stage whose publish went out but was not confirmed by the
		// deadline stays that, exit 6: unconfirmed paused it.)
		ss := &st.Stages[st.Stage]
		st.Status = StatusPaused
		if ss.Status == StagePending {
			// The stage before passed at the deadline: this one never
			// began, and stays pending.
			st.Message = fmt.Sprintf("%s %d (%s) began", notBegunMessage, st.Stage+1, ss.Step)
		} else {
			ss.Status, ss.Ended = StageTimedOut, r.Now().UTC()
			st.Message = fmt.Sprintf("timed out at stage %d (%s)", st.Stage+1, ss.Step)
		}
		r.emit(Event{Kind: EventTimeout, Stage: st.Stage + 1, Stages: len(st.Stages), Step: ss.Step, Status: st.Status, Message: st.Message})
		next := "nothing was restored: 'otactl rollout resume' waits again, 'otactl rollout abort' ends it"
		if serr := r.save(ctx, st); serr != nil {
			// A deadline met half way through a message can cost the
			// connection: the state stays at the stage, running.
			next = fmt.Sprintf("nothing was restored, and the state could not be saved as paused (%v): run the same 'otactl rollout start' again to resume", serr)
		}
		if ss.Status == StagePending {
			return hint.Wrap(fmt.Errorf("%w: %s", ErrTimedOut, st.Message), next)
		}
		return hint.Wrap(fmt.Errorf("%w: %s: %d of %d devices updated, %d failed, %d pending",
			ErrTimedOut, st.Message, ss.Updated, ss.Total, ss.Failed, ss.Pending), next)
	}
	return err
}

// save retains st, once the lock is found still held: a run whose lock
// was taken over or cleared (rollout abort) writes no state.
func (r *Runner) save(ctx context.Context, st *State) error {
	if err := r.held(ctx); err != nil {
		return err
	}
	st.UpdatedAt = r.Now().UTC()
	return WriteState(ctx, r.Broker, r.Broker.Topics().RolloutState(), st)
}

// held checks that the run still holds its lock: it is checked before
// each state write and each publish, so that a run whose lock was taken
// over or cleared (rollout abort) publishes nothing more.
func (r *Runner) held(ctx context.Context) error {
	if r.lock == nil {
		return nil
	}
	return r.lock.Check(ctx)
}

// begin reads the retained state and decides: resume it, start anew, or
// refuse.
func (r *Runner) begin(ctx context.Context, req *Request) (*State, error) {
	topics := r.Broker.Topics()
	old, err := ReadState(ctx, r.Broker, topics.RolloutState())
	if err != nil {
		return nil, err
	}
	m := req.Plan.Manifest
	if req.Resume {
		if err := req.fromState(old, m.Hash); err != nil {
			return nil, err
		}
	}
	steps := FormatSteps(req.Steps)
	if old != nil && old.Same(m.Hash, steps) {
		return r.resume(ctx, req, old)
	}
	if old != nil && old.Active() {
		return nil, hint.Wrap(fmt.Errorf("%w: the rollout of release %d (steps %s) is %s at stage %d, started by %s",
			ErrRefused, old.Sequence, old.Steps, old.Status, old.Stage+1, old.StartedBy),
			"'otactl rollout status' shows it; end it with 'otactl rollout abort', or run it again with the same manifest and --steps to resume it")
	}
	if err := req.check(); err != nil {
		return nil, err
	}
	st := &State{Sequence: m.SequenceNumber, Hash: m.Hash, Package: req.Package, Version: req.Gate.Version, Steps: steps,
		MinUpdated: strconv.FormatFloat(req.Gate.MinUpdated*100, 'f', -1, 64) + "%", MaxFailed: req.Gate.MaxFailed.String(),
		Bake: req.Bake.String(), OnFailure: req.OnFailure, Signed: len(m.Signatures) > 0,
		Status: StatusRunning, StartedBy: req.Owner, StartedAt: r.Now().UTC()}
	for _, s := range req.Steps {
		st.Stages = append(st.Stages, StageState{Step: s.String(), Status: StagePending})
	}
	if st.Previous, err = r.previous(ctx, req); err != nil {
		return nil, err
	}
	if err := r.save(ctx, st); err != nil {
		return nil, err
	}
	r.emit(Event{Kind: EventStarted, Stages: len(req.Steps), Step: steps, Sequence: st.Sequence, Version: st.Version, Status: st.Status,
		Message: fmt.Sprintf("on failure: %s; previous release %d", req.OnFailure, st.Previous)})
	return st, nil
}

// resume takes up old, the state of this very rollout.
func (r *Runner) resume(ctx context.Context, req *Request, old *State) (*State, error) {
	switch {
	case old.Status == StatusDone:
		r.emit(Event{Kind: EventDone, Stages: len(old.Stages), Sequence: old.Sequence, Version: old.Version, Status: old.Status, Message: "already done"})
		return old, nil
	case old.Status == StatusPaused && !req.Resume:
		return nil, hint.Wrap(fmt.Errorf("%w: the rollout of release %d is paused at stage %d (%s): %s",
			ErrRefused, old.Sequence, old.Stage+1, old.Stages[old.Stage].Step, old.Message),
			"'otactl rollout resume' gates the stage again; 'otactl rollout abort' ends it")
	case !old.Active():
		return nil, hint.Wrap(fmt.Errorf("%w: the rollout of release %d ended %s at stage %d: %s",
			ErrRefused, old.Sequence, old.Status, old.Stage+1, old.Message),
			"create a new release (a new sequence number) to roll out again")
	}
	if err := req.check(); err != nil {
		return nil, err
	}
	if old.Stages[old.Stage].Status != StagePassed {
		old.Stages[old.Stage].Status = StagePending
	}
	old.Status, old.Message = StatusRunning, ""
	if req.Owner != old.StartedBy {
		old.By = req.Owner
	}
	if err := r.save(ctx, old); err != nil {
		return nil, err
	}
	r.emit(Event{Kind: EventResumed, Stage: old.Stage + 1, Stages: len(old.Stages), Step: old.Steps, Sequence: old.Sequence, Version: old.Version, Status: old.Status})
	return old, nil
}

// fromState takes the plan of a rollout to resume from its state.
func (req *Request) fromState(st *State, hash string) error {
	if st == nil || !st.Active() {
		return fmt.Errorf("%w: no rollout in progress to resume", ErrRefused)
	}
	if st.Hash != hash {
		return fmt.Errorf("%w: the rollout in progress is of release %d, not of this manifest", ErrRefused, st.Sequence)
	}
	var err error
	if req.Steps, err = ParseSteps(st.Steps); err != nil {
		return err
	}
	if req.Gate.MinUpdated, err = fleet.ParseShare(st.MinUpdated); err != nil {
		return err
	}
	if req.Gate.MaxFailed, err = fleet.ParseThreshold(st.MaxFailed); err != nil {
		return err
	}
	if req.Bake, err = time.ParseDuration(st.Bake); err != nil {
		return err
	}
	req.OnFailure = st.OnFailure
	return nil
}

// check refuses a request whose restore could not be published: halt and
// rollback of a signed release need signing keys.
func (req *Request) check() error {
	m := req.Plan.Manifest
	if req.Package == "" {
		req.Package = fleet.DefaultPackage
		if len(m.Components) == 1 {
			req.Package = m.Components[0].Package
		}
	}
	req.Gate.Package = req.Package
	for _, c := range m.Components {
		if c.Package == req.Package {
			req.Gate.Version = c.Version
		}
	}
	if req.Gate.Version == "" {
		return fmt.Errorf("%w: the release has no component %s for the gates to judge", ErrRefused, req.Package)
	}
	if req.OnFailure != OnFailurePause && len(m.Signatures) > 0 && len(req.Signers) == 0 {
		return hint.Wrap(fmt.Errorf("%w: --on-failure %s: the release is signed, so the restore must be signed too", ErrRefused, req.OnFailure),
			"give --sign KEYREF, or --on-failure pause, which needs no keys")
	}
	return nil
}

// previous is the release a failed gate restores: the one the fleet's
// desired topic retains, else the catalog's latest below this one. With
// --on-failure pause it may be none.
func (r *Runner) previous(ctx context.Context, req *Request) (int64, error) {
	m := req.Plan.Manifest
	topics := r.Broker.Topics()
	var prev int64
	if fm, _, _, err := publish.ReadManifest(ctx, r.Broker, topics.Fleet()); err == nil && fm != nil && fm.Hash != m.Hash && fm.SequenceNumber < m.SequenceNumber {
		if ct, err := topics.Release(fm.SequenceNumber); err == nil {
			if _, found, err := r.Broker.ReadRetained(ctx, ct); err == nil && found {
				prev = fm.SequenceNumber
			}
		}
	}
	if prev == 0 {
		entries, err := publish.ReadCatalog(ctx, r.Broker, topics, nil)
		if err != nil {
			return 0, err
		}
		for _, e := range entries {
			if e.SequenceNumber < m.SequenceNumber && e.Hash != m.Hash {
				prev = e.SequenceNumber
			}
		}
	}
	if prev == 0 && req.OnFailure != OnFailurePause {
		return 0, hint.Wrap(fmt.Errorf("%w: --on-failure %s: no earlier release in the catalog (%s) to restore", ErrRefused, req.OnFailure, topics.ReleasesFilter()),
			"publish the release the fleet runs first ('otactl release publish'), or use --on-failure pause")
	}
	return prev, nil
}

// Abort ends the rollout in progress, by by: its state says aborted and
// nothing is restored (what devices have stays). It clears the lock
// first, so that a run still on the rollout writes no state after it
// (Runner.save) and stops at its next renewal (Lock.Hold), then, settle
// later (past a state write already under way), writes the state.
func Abort(ctx context.Context, b Broker, by string, now func() time.Time, settle time.Duration) (*State, error) {
	topics := b.Topics()
	st, err := ReadState(ctx, b, topics.RolloutState())
	if err != nil {
		return nil, err
	}
	if st == nil || !st.Active() {
		return st, hint.Wrap(errors.New("rollout abort: no rollout in progress"), "'otactl rollout status' shows the last one")
	}
	if err := b.Clear(ctx, topics.RolloutLock()); err != nil {
		return nil, fmt.Errorf("rollout lock: %w", err)
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if st, err = ReadState(ctx, b, topics.RolloutState()); err != nil || st == nil {
		return nil, cmp.Or(err, errors.New("rollout abort: the rollout's state is gone"))
	}
	st.Status, st.By, st.UpdatedAt = StatusAborted, by, now().UTC()
	st.Message = fmt.Sprintf("aborted by %s at stage %d (%s)", by, st.Stage+1, st.Stages[st.Stage].Step)
	if err := WriteState(ctx, b, topics.RolloutState(), st); err != nil {
		return nil, err
	}
	return st, nil
}
