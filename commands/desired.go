package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// desiredStep is steps 4 and 5 of a publish (and of a rollback):
// anti-rollback on every target, then the desired manifest on each. Every
// target's desired topic is watched from before the check until the run
// ends, so that a concurrent publish to it is seen and the publishers
// converge on the highest sequence (docs/publishing.md, "Concurrent
// publishes").
type desiredStep struct {
	sys     *System
	plan    *publishPlan
	targets []target
	results []targetResult
	w       *upload.Watch
	lost    []string // why the release did not stay on a target
	gone    map[string]bool
	sent    bool // a desired manifest may have reached the broker
}

// desiredRank ranks what a desired topic retains: by sequence number, then
// digest; anything that is not a manifest ranks below every manifest.
func desiredRank(payload []byte) upload.Rank {
	m, err := release.Parse(payload)
	if err != nil {
		return upload.Rank{}
	}
	return upload.Rank{Seq: m.SequenceNumber, Release: m.Hash}
}

// startDesired watches every target's desired topic and runs the
// anti-rollback check (step 4): a target that retains, or was sent since
// the watch began, a sequence number greater than or equal to this one
// (another release) is refused, unless --force. Nothing is published when
// any target is refused.
func startDesired(ctx context.Context, sys *System, client *upload.Client, plan *publishPlan, targets []target) (*desiredStep, error) {
	d := &desiredStep{sys: sys, plan: plan, targets: targets, results: make([]targetResult, len(targets)), gone: map[string]bool{}}
	if len(targets) == 0 {
		return d, nil
	}
	topics := make([]string, len(targets))
	for i, t := range targets {
		topics[i] = t.Topic
	}
	w, err := client.Watch(ctx, topics, upload.WatchOptions{Rank: desiredRank, Over: plan.Force})
	if err != nil {
		return nil, err
	}
	d.w = w
	m := plan.Manifest
	for i, t := range targets {
		d.results[i] = targetResult{Kind: t.Kind, Name: t.Name, Topic: t.Topic, Action: "published"}
		if plan.DryRun {
			d.results[i].Action = "would publish"
		}
		old, found := w.Retained(t.Topic)
		if !found {
			continue
		}
		om, err := release.Parse(old)
		if err != nil {
			if !errors.Is(err, release.ErrNoRelease) {
				fmt.Fprintf(sys.Stderr, "warning: %s retains %d bytes that are not a manifest (%v): replacing them\n", t.Topic, len(old), err)
			}
			continue
		}
		d.results[i].Previous = om.SequenceNumber
		if om.SequenceNumber == m.SequenceNumber && om.Hash == m.Hash && bytes.Equal(old, plan.Payload) {
			// This very release, with the same bytes: left alone (in
			// another encoding it is published again).
			d.results[i].Action = "unchanged"
		}
	}
	if err := d.refuse(); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// refusal says why target t is refused by what was seen on it since the
// watch began, or "".
func (d *desiredStep) refusal(t target) string {
	if d.plan.Force {
		return ""
	}
	m := d.plan.Manifest
	var worst *upload.Seen
	for _, s := range d.w.Seen(t.Topic) {
		if s.Rank.Seq < m.SequenceNumber || (s.Rank.Seq == m.SequenceNumber && s.Rank.Release == m.Hash) {
			continue
		}
		if worst == nil || s.Rank.Compare(worst.Rank) > 0 {
			worst = &s
		}
	}
	switch {
	case worst == nil:
		return ""
	case worst.Retained:
		return fmt.Sprintf("%s retains sequence %d", t, worst.Rank.Seq)
	}
	return fmt.Sprintf("%s was sent sequence %d concurrently", t, worst.Rank.Seq)
}

// refuse is the anti-rollback error for every target refused now.
func (d *desiredStep) refuse() error {
	if err := d.w.Poll(); err != nil {
		return err
	}
	var refused []string
	for _, t := range d.targets {
		if r := d.refusal(t); r != "" {
			refused = append(refused, r)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	return withHint(fmt.Errorf("%w: anti-rollback: sequence %d is not above what is published: %s",
		release.ErrVerification, d.plan.Manifest.SequenceNumber, strings.Join(refused, ", ")),
		"create the release again (a new sequence number), use 'otactl release rollback' to go back to an earlier release, or --force")
}

// publish publishes the desired manifest to every target (step 5), and
// settles each: it ends on this release, or on a higher one another run
// published concurrently (then the target is lost to this run). say
// prints progress.
func (d *desiredStep) publish(ctx context.Context, say func(string, ...any)) error {
	if d.plan.DryRun || len(d.targets) == 0 {
		for i, t := range d.targets {
			d.sayTarget(say, t, d.results[i])
		}
		return nil
	}
	if err := testDelayBeforeDesired(ctx, d.sys); err != nil {
		return err
	}
	// What arrived during the earlier steps counts too; from here on a
	// target refused leaves the others published.
	if err := d.refuse(); err != nil {
		return err
	}
	for i, t := range d.targets {
		r := &d.results[i]
		switch r.Action {
		case "unchanged":
			if err := d.w.Own(t.Topic, d.plan.Payload); err != nil {
				return err
			}
		case "published":
			if err := d.w.Poll(); err != nil {
				return err
			}
			if why := d.refusal(t); why != "" {
				d.lose(t, why+": nothing published there")
				r.Action = "refused"
				continue
			}
			if testHookBeforeDesired != nil {
				testHookBeforeDesired(t.Topic)
			}
			d.sent = true
			if err := d.w.Publish(ctx, t.Topic, d.plan.Payload); err != nil {
				return fmt.Errorf("publish to %s: %w", t, err)
			}
		}
	}
	if err := d.settle(ctx); err != nil {
		return err
	}
	for i, t := range d.targets {
		if !d.gone[t.Topic] {
			d.sayTarget(say, t, d.results[i])
		}
	}
	return nil
}

// settle confirms every target this run published to, and records the
// ones where a higher release won.
func (d *desiredStep) settle(ctx context.Context) error {
	if d.w == nil {
		return nil
	}
	out, err := d.w.Settle(ctx)
	if err != nil {
		return err
	}
	for i, t := range d.targets {
		o, ok := out[t.Topic]
		if !ok || d.gone[t.Topic] {
			continue
		}
		d.results[i].Restored = o.Restored > 0 && !o.Superseded
		switch {
		case o.Superseded:
			why := fmt.Sprintf("a higher sequence %d was published to %s (%s) concurrently", o.Highest.Seq, t, t.Topic)
			if o.Restored > 0 {
				why += ", and was put back after this run's publish replaced it"
			}
			d.lose(t, why)
			d.results[i].Action = "superseded"
		case !bytes.Equal(o.Retained, d.plan.Payload):
			// The same release (sequence and digest) in other bytes:
			// another encoding, or other signatures.
			d.lose(t, fmt.Sprintf("%s (%s) retains this release with other bytes (%d, not %d), published there concurrently: another encoding or other signatures",
				t, t.Topic, len(o.Retained), len(d.plan.Payload)))
			d.results[i].Action = "replaced"
		}
	}
	return nil
}

func (d *desiredStep) lose(t target, why string) {
	d.gone[t.Topic] = true
	d.lost = append(d.lost, why)
}

func (d *desiredStep) sayTarget(say func(string, ...any), t target, r targetResult) {
	seq := d.plan.Manifest.SequenceNumber
	var was, again string
	if r.Previous != 0 {
		was = fmt.Sprintf(", was %d", r.Previous)
	}
	if r.Restored {
		again = "; published again after a concurrent publish of a lower sequence replaced it"
	}
	say("target %s: %s %s (sequence %d%s)%s", t, r.Action, t.Topic, seq, was, again)
}

// kept returns the targets that keep this release.
func (d *desiredStep) kept() []target {
	var out []target
	for _, t := range d.targets {
		if !d.gone[t.Topic] {
			out = append(out, t)
		}
	}
	return out
}

// finish settles once more what arrived since (a run exits 0 only if its
// targets end on its release), and returns the anti-rollback error for
// every target this release did not stay on.
func (d *desiredStep) finish(ctx context.Context) error {
	if !d.plan.DryRun {
		if err := d.settle(ctx); err != nil {
			return d.partial(ctx, err)
		}
	}
	if len(d.lost) == 0 {
		return nil
	}
	return withHint(fmt.Errorf("%w: anti-rollback: sequence %d did not stay on every target: %s",
		release.ErrVerification, d.plan.Manifest.SequenceNumber, strings.Join(d.lost, "; ")),
		"another run published to the same target at the same time, and devices get what it retains now (otactl release current): create the release again (a new sequence number) if this one should win")
}

// partial gives err, met after a desired manifest may have reached the
// broker, exit 6: the release may be live though the run could not confirm
// it everywhere (a read-back that failed counts: a broker may deliver what
// it does not retain). An interruption keeps 130.
func (d *desiredStep) partial(ctx context.Context, err error) error {
	if err == nil || !d.sent || exitCode(ctx, err) == ExitInterrupted {
		return err
	}
	return withExitCode(ExitPartial, withHint(err,
		"a desired manifest was published, so the release may be live on some targets: check with 'otactl release current', and run the same publish again to finish it"))
}

func (d *desiredStep) close() {
	if d.w != nil {
		d.w.Close()
	}
}

// testDelayEnv names an environment variable read by tests only: a
// duration that publishRelease sleeps between its anti-rollback check and
// its first desired publish, to widen the window racing publishers meet in.
const testDelayEnv = "OTACTL_TEST_DELAY_BEFORE_DESIRED"

// testHookBeforeDesired, set by tests only, runs just before a desired
// manifest is published to topic.
var testHookBeforeDesired func(topic string)

// testDelayBeforeDesired sleeps as testDelayEnv says, if it is set.
func testDelayBeforeDesired(ctx context.Context, sys *System) error {
	v := sys.Getenv(testDelayEnv)
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%s: %w", testDelayEnv, err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
