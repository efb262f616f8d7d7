package fleet

import (
	"context"
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
