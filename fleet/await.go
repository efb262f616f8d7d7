package fleet

import (
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
// first one at once. When ctx ends first it returns ctx's error; when the
// subscription ends or fails, that error.
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
	lastLook := time.Now()
	for {
		select {
		case <-ctx.Done():
			return GateResult{}, ctx.Err()
		case err := <-followErr:
			if ctx.Err() != nil {
				return GateResult{}, ctx.Err()
			}
			return GateResult{}, err
		case <-tick.C:
			// Look when reports came, and every second for the progress line.
			if !dirty.Swap(false) && time.Since(lastLook) < time.Second {
				continue
			}
			lastLook = time.Now()
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
// and follows the reports until the gate is decided (Await). When the
// deadline passes first it returns the gate judged on what was read, with
// the verdict "timeout" and no error; when it passes before the gate has
// a version, an error wrapping ErrTimeout. When ctx ends first it returns
// ctx's error.
func (s *Source) Wait(ctx context.Context, g Gate, o WaitOptions) (GateResult, error) {
	waitCtx, cancel := context.WithDeadline(ctx, o.Deadline)
	defer cancel()
	timedOut := func() (GateResult, error) {
		if ctx.Err() != nil {
			return GateResult{}, ctx.Err()
		}
		res := Evaluate(s.fleet, g)
		res.Verdict = "timeout"
		return res, nil
	}
	if err := s.ReadDesired(waitCtx); err != nil {
		switch {
		case ctx.Err() != nil || waitCtx.Err() == nil:
			return GateResult{}, err
		case g.Version == "":
			return GateResult{}, fmt.Errorf("%w reading the desired manifests", ErrTimeout)
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
		if waitCtx.Err() != nil {
			return timedOut()
		}
		return GateResult{}, err
	}
	return res, nil
}
