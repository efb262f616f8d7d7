package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// awaitPoll is how often Await looks at the gate, at most.
const awaitPoll = 250 * time.Millisecond

// Await judges gate g on the fleet as it is, then follows the devices'
// reports until the gate is decided, and returns the deciding result
// (verdict "done" or "failed"). Read the retained reports first (see
// ReadReports): judging part of the retained picture could pass a rollout
// whose failed devices have not been read yet.
//
// It looks again when reports came, at most every 250 ms, and at least
// every second; pending (when not nil) gets each undecided result, the
// first one at once. When ctx's deadline passes, it takes in the reports
// that have arrived and looks a last time: a gate decided then is
// returned as decided, without error; one still undecided is returned
// with ctx's error. When ctx is cancelled it returns ctx's error; when
// the subscription ends or fails, that error.
func (s *Source) Await(ctx context.Context, g Gate, pending func(GateResult)) (GateResult, error) {
	res := Evaluate(s.fleet, g)
	if res.Verdict != "pending" {
		return res, nil
	}
	if pending != nil {
		pending(res)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var dirty atomic.Bool
	followErr := make(chan error, 1)
	go func() {
		followErr <- s.Follow(ctx, nil, func() { dirty.Store(true) })
	}()
	tick := time.NewTicker(awaitPoll)
	defer tick.Stop()
	looked := time.Now()
	for {
		select {
		case <-ctx.Done():
			// Follow ends with ctx, once it has taken in what arrived.
			<-followErr
			return lastLook(ctx, s.fleet, g)
		case err := <-followErr:
			if ctx.Err() != nil {
				return lastLook(ctx, s.fleet, g)
			}
			return GateResult{}, err
		case <-tick.C:
			// Look when reports came, and every second for the progress line.
			if !dirty.Swap(false) && time.Since(looked) < time.Second {
				continue
			}
			looked = time.Now()
			res := Evaluate(s.fleet, g)
			if res.Verdict != "pending" {
				return res, nil
			}
			if pending != nil {
				pending(res)
			}
		}
	}
}

// lastLook judges g once ctx has ended: a gate decided by the reports
// that came since the last look is returned as decided when ctx's
// deadline passed, so that a verdict reached just before the deadline is
// not reported as a timeout; otherwise the result with ctx's error.
func lastLook(ctx context.Context, f *Fleet, g Gate) (GateResult, error) {
	res := Evaluate(f, g)
	if res.Verdict != "pending" && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return res, nil
	}
	return res, ctx.Err()
}

// ErrTimeout is the error of a Wait whose deadline passed before its
// gate knew which version to wait for.
var ErrTimeout = errors.New("timed out")

// WaitOptions are the parts of a Wait besides its gate.
type WaitOptions struct {
	// Deadline ends the wait with the verdict "timeout".
	Deadline time.Time
	// Ready, when not nil, runs once the desired manifests are read and
	// before the reports are: it may complete the gate (its version from
	// the desired manifests) or refuse to wait, with an error Wait
	// returns.
	Ready func(g *Gate) error
	// Progress (when not nil) gets each undecided result, as in Await.
	Progress func(GateResult)
}

// Wait is the whole wait on a gate, with a deadline: it reads the
// retained desired manifests, then (after o.Ready) the retained reports,
// and follows the reports until the gate is decided (Await). A gate
// decided by the reports that arrived before the deadline is returned as
// decided, even when the deadline passed before the next look. When the
// deadline passes first it returns the gate judged on what was read, with
// the verdict "timeout" and no error (see Timeout); when it passes before
// the gate has a version, Timeout's result for the gate with an error
// wrapping ErrTimeout. When ctx ends first it returns ctx's error.
func (s *Source) Wait(ctx context.Context, g Gate, o WaitOptions) (GateResult, error) {
	waitCtx, cancel := context.WithDeadline(ctx, o.Deadline)
	defer cancel()
	timedOut := func() (GateResult, error) {
		if ctx.Err() != nil {
			return GateResult{}, ctx.Err()
		}
		return Timeout(Evaluate(s.fleet, g)), nil
	}
	if err := s.ReadDesired(waitCtx); err != nil {
		switch {
		case ctx.Err() != nil || waitCtx.Err() == nil:
			return GateResult{}, err
		case g.Version == "":
			res := Timeout(GateResult{Package: cmp.Or(g.Package, DefaultPackage), Time: s.now(), Failures: []Row{}, Pending: []Row{}})
			return res, fmt.Errorf("%w reading the desired manifests", ErrTimeout)
		}
		return timedOut()
	}
	if o.Ready != nil {
		if err := o.Ready(&g); err != nil {
			return GateResult{}, err
		}
	}
	// The retained picture, whole, before judging: judging part of it
	// could pass a rollout whose failed devices have not been read yet.
	if err := s.ReadReports(waitCtx); err != nil {
		if waitCtx.Err() != nil {
			return timedOut()
		}
		return GateResult{}, err
	}
	res, err := s.Await(waitCtx, g, o.Progress)
	if err != nil {
		if ctx.Err() == nil && waitCtx.Err() != nil {
			// Await looked a last time: the gate is still undecided.
			return Timeout(res), nil
		}
		return GateResult{}, err
	}
	return res, nil
}

// Timeout is res as a wait that gave up reports it: the verdict
// "timeout", and neither done nor failed, as the gate was not decided
// (a partial read of the retained reports may look decided). The counts
// stay those of what was read.
func Timeout(res GateResult) GateResult {
	res.Verdict = "timeout"
	res.Done, res.Failed, res.TooManyFailed, res.Unreachable = false, false, false, false
	return res
}
