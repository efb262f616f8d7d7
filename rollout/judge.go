package rollout

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/upload"
)

// FleetJudge is the Judge of a broker: each gate reads the retained
// desired manifests and state reports afresh (fleet.Source), then follows
// the live reports, as 'rollout wait' does.
type FleetJudge struct {
	Client *upload.Client
	// Stale is the fleet's stale duration (fleet.SourceOptions).
	Stale    time.Duration
	Now      func() time.Time
	Warnings io.Writer
}

// bakePoll is how often Bake looks at the gate.
const bakePoll = 250 * time.Millisecond

// Known lists the devices that retain a state report.
func (j *FleetJudge) Known(ctx context.Context) ([]string, error) {
	return publish.KnownDevices(ctx, j.Client, j.Client.Topics())
}

func (j *FleetJudge) source(ctx context.Context, g fleet.Gate) (*fleet.Source, error) {
	src := fleet.NewSource(j.Client, fleet.SourceOptions{Now: j.Now, Stale: j.Stale, Cohorts: g.Cohorts, Warnings: j.Warnings})
	if err := src.ReadAll(ctx); err != nil {
		return nil, err
	}
	return src, nil
}

// Await judges g on the retained picture, then on live reports, until it
// is decided (fleet.Source.Await).
func (j *FleetJudge) Await(ctx context.Context, g fleet.Gate, progress func(fleet.GateResult)) (fleet.GateResult, error) {
	src, err := j.source(ctx, g)
	if err != nil {
		return fleet.GateResult{}, err
	}
	return src.Await(ctx, g, progress)
}

// Bake follows g for d: the result at the end, or the first with more
// than baseline failed devices. When ctx's deadline passes first, it
// takes in the reports that have arrived and looks a last time, as Await
// does: more than baseline failed devices then is that result, without
// error.
func (j *FleetJudge) Bake(ctx context.Context, g fleet.Gate, d time.Duration, baseline int) (fleet.GateResult, error) {
	src, err := j.source(ctx, g)
	if err != nil {
		return fleet.GateResult{}, err
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var dirty atomic.Bool
	followErr := make(chan error, 1)
	go func() { followErr <- src.Follow(fctx, nil, func() { dirty.Store(true) }) }()
	tick := time.NewTicker(bakePoll)
	defer tick.Stop()
	end := time.NewTimer(d)
	defer end.Stop()
	last := func() (fleet.GateResult, error) {
		res := fleet.Evaluate(src.Fleet(), g)
		if res.FailedCount > baseline && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return res, nil
		}
		return res, ctx.Err()
	}
	for {
		select {
		case <-ctx.Done():
			// Follow ends with ctx, once it has taken in what arrived.
			<-followErr
			return last()
		case err := <-followErr:
			if ctx.Err() != nil {
				return last()
			}
			return fleet.Evaluate(src.Fleet(), g), err
		case <-end.C:
			return fleet.Evaluate(src.Fleet(), g), nil
		case <-tick.C:
			if !dirty.Swap(false) {
				continue
			}
			if res := fleet.Evaluate(src.Fleet(), g); res.FailedCount > baseline {
				return res, nil
			}
		}
	}
}
