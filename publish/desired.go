package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// Desired is the anti-rollback and desired steps of one publish: every
// target's desired topic is watched from before the anti-rollback check
// until the run ends, so that a concurrent publish to it is seen and the
// publishers converge on the highest sequence (docs/publishing.md,
// "Concurrent publishes").
type Desired struct {
	p       *Publisher
	plan    *Plan
	targets []Target
	results []TargetResult
	w       Watch
	lost    []string // why the release did not stay on a target
	gone    map[string]bool
	sent    bool // a desired manifest may have reached the broker
	told    bool // the targets' results were told (TargetDone)
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

// AntiRollback is the anti-rollback step: it watches every target's
// desired topic and refuses (an *AntiRollbackError) when a target retains,
// or was sent since the watch began, a sequence number greater than or
// equal to the plan's (another release), unless Force. Nothing is
// published when any target is refused. A target that retains this very
// release with the same bytes is left unchanged. The returned Desired
// publishes, and must be closed.
func (p *Publisher) AntiRollback(ctx context.Context, plan *Plan, targets []Target) (*Desired, error) {
	d := &Desired{p: p, plan: plan, targets: targets, results: make([]TargetResult, len(targets)), gone: map[string]bool{}}
	if len(targets) == 0 {
		return d, nil
	}
	topics := make([]string, len(targets))
	for i, t := range targets {
		topics[i] = t.Topic
	}
	w, err := p.Broker.WatchDesired(ctx, topics, upload.WatchOptions{Rank: desiredRank, Over: plan.Force})
	if err != nil {
		return nil, err
	}
	d.w = w
	for i, t := range targets {
		d.results[i] = d.initial(t)
	}
	if err := d.refuse(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// initial is target t's result before anything is published.
func (d *Desired) initial(t Target) TargetResult {
	m := d.plan.Manifest
	r := TargetResult{Kind: t.Kind, Name: t.Name, Topic: t.Topic, Action: ActionPublished}
	if d.plan.DryRun {
		r.Action = "would publish"
	}
	old, found := d.w.Retained(t.Topic)
	if !found {
		return r
	}
	om, err := release.Parse(old)
	if err != nil {
		if !errors.Is(err, release.ErrNoRelease) {
			d.p.Observe.emit(Warning{fmt.Sprintf("%s retains %d bytes that are not a manifest (%v): replacing them", t.Topic, len(old), err)})
		}
		return r
	}
	r.Previous = om.SequenceNumber
	if om.SequenceNumber == m.SequenceNumber && om.Hash == m.Hash && bytes.Equal(old, d.plan.Payload) {
		// This very release, with the same bytes: left alone (in another
		// encoding it is published again).
		r.Action = "unchanged"
	}
	return r
}

// refusal says why target t is refused by what was seen on it since the
// watch began, or "".
func (d *Desired) refusal(t Target) string {
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
func (d *Desired) refuse() error {
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
	return &AntiRollbackError{Sequence: d.plan.Manifest.SequenceNumber, Reasons: refused}
}

// Publish is the desired step: it publishes the desired manifest to every
// target and settles each: it ends on this release, or on a higher one
// another run published concurrently (then the target is lost to this
// run). Each target kept is a TargetDone event.
func (d *Desired) Publish(ctx context.Context) error {
	if d.plan.DryRun || len(d.targets) == 0 {
		d.tell()
		return nil
	}
	if h := d.p.Hooks.BeforeDesired; h != nil {
		if err := h(ctx); err != nil {
			return err
		}
	}
	// What arrived during the earlier steps counts too; from here on a
	// target refused leaves the others published.
	if err := d.refuse(); err != nil {
		return err
	}
	for i, t := range d.targets {
		if err := d.publishTo(ctx, t, &d.results[i]); err != nil {
			d.stopAt(i, err)
			return err
		}
	}
	if err := d.settle(ctx); err != nil {
		d.failed(err)
		return err
	}
	d.tell()
	return nil
}

// failed marks failed the target whose read-back err is about, if it
// names one.
func (d *Desired) failed(err error) {
	var (
		ve *upload.VerifyError
		ue *upload.UnconfirmedError
	)
	var topic string
	switch {
	case errors.As(err, &ve):
		topic = ve.Topic
	case errors.As(err, &ue):
		topic = ue.Topic
	default:
		return
	}
	for i, t := range d.targets {
		if t.Topic == topic {
			d.results[i].Action, d.results[i].Error = ActionFailed, err.Error()
		}
	}
}

// publishTo publishes the desired manifest to t unless it is there
// already or was refused since.
func (d *Desired) publishTo(ctx context.Context, t Target, r *TargetResult) error {
	switch r.Action {
	case "unchanged":
		return d.w.Own(t.Topic, d.plan.Payload)
	case ActionPublished:
		if err := d.w.Poll(); err != nil {
			return err
		}
		if why := d.refusal(t); why != "" {
			d.lose(t, why+": nothing published there")
			r.Action = "refused"
			return nil
		}
		if h := d.p.Hooks.BeforeEachDesired; h != nil {
			h(t.Topic)
		}
		d.sent = true
		if err := d.w.Publish(ctx, t.Topic, d.plan.Payload); err != nil {
			return fmt.Errorf("publish to %s: %w", t, err)
		}
	}
	return nil
}

// stopAt records that the run stopped at target i on err: that target
// failed (its desired manifest may or may not be retained there), and
// those after it that this run was to publish to were not published to.
func (d *Desired) stopAt(i int, err error) {
	d.results[i].Action, d.results[i].Error = failedAction(err), err.Error()
	for j := i + 1; j < len(d.results); j++ {
		if d.results[j].Action == ActionPublished {
			d.results[j].Action = ActionNotPublished
		}
	}
}

// tell emits a TargetDone event for every target the release is on (or,
// in a run that stopped part-way, was to be).
func (d *Desired) tell() {
	d.told = true
	for i, t := range d.targets {
		if !d.gone[t.Topic] {
			d.p.Observe.emit(TargetDone{Target: t, Result: d.results[i], Sequence: d.plan.Manifest.SequenceNumber})
		}
	}
}

// settle confirms every target this run published to, and records the
// ones where a higher release won.
func (d *Desired) settle(ctx context.Context) error {
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

func (d *Desired) lose(t Target, why string) {
	d.gone[t.Topic] = true
	d.lost = append(d.lost, why)
}

// Results are the targets' results so far.
func (d *Desired) Results() []TargetResult { return d.results }

// Kept returns the targets that keep this release.
func (d *Desired) Kept() []Target {
	var out []Target
	for _, t := range d.targets {
		if !d.gone[t.Topic] {
			out = append(out, t)
		}
	}
	return out
}

// Finish settles once more what arrived since (a run succeeds only if its
// targets end on its release), and returns an *AntiRollbackError for every
// target this release did not stay on: as it is when the release stayed on
// no target, else inside a *PartialError carrying rep (the release is live
// on the targets it stayed on).
func (d *Desired) Finish(ctx context.Context, rep *Report) error {
	if !d.plan.DryRun {
		if err := d.settle(ctx); err != nil {
			return d.partial(ctx, err, rep)
		}
	}
	if len(d.lost) == 0 {
		return nil
	}
	err := &AntiRollbackError{Sequence: d.plan.Manifest.SequenceNumber, Reasons: d.lost, Lost: true}
	if kept := len(d.Kept()); kept > 0 {
		rep.Targets = d.results
		return &PartialError{Err: err, Result: rep, Next: fmt.Sprintf("the release stayed on %d of %d targets (and is in the catalog for those); on the others a higher release, published concurrently, is what devices get (otactl release current): create the release again (a new sequence number) if this one should win there", kept, len(d.targets))}
	}
	return err
}

// partial makes err, met after a desired manifest may have reached the
// broker, a *PartialError carrying rep with the targets' results so far
// (a read-back that failed counts: a broker may deliver what it does not
// retain). An interruption becomes one that says how far the run got,
// still exit 130.
func (d *Desired) partial(ctx context.Context, err error, rep *Report) error {
	if err == nil || !d.sent {
		return err
	}
	rep.Targets = d.results
	if !d.told {
		d.tell()
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return &PartialError{Err: fmt.Errorf("interrupted after the desired manifest went out: %s", d.reached(rep)), Result: rep,
			Next: "the release is live on the targets published to (-o json lists each target's action): run the same publish again to finish it, or 'otactl release unpublish' them"}
	}
	return &PartialError{Err: err, Result: rep}
}

// reached says how many targets this run published to, of how many, what
// became of the others, and whether the catalog entry was recorded.
func (d *Desired) reached(rep *Report) string {
	n := map[string]int{}
	var others []string
	for _, r := range d.results {
		if n[r.Action]++; n[r.Action] == 1 && r.Action != ActionPublished {
			others = append(others, r.Action)
		}
	}
	var parts []string
	for _, a := range others {
		parts = append(parts, fmt.Sprintf("%d %s", n[a], a))
	}
	catalog := "no catalog entry recorded"
	if rep.Catalog.Action != "" {
		catalog = "catalog entry " + rep.Catalog.Action
	}
	s := fmt.Sprintf("published to %d of %d targets", n[ActionPublished], len(d.results))
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s + "; " + catalog
}

// Close ends the watch.
func (d *Desired) Close() {
	if d.w != nil {
		d.w.Close()
	}
}
