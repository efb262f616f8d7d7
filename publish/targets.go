package publish

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/otactl/otactl/catalog"
	"github.com/otactl/otactl/protocol"
)

// Targets is the targets step: the plan's targets, then, with a Percent,
// the devices it chooses among those that report (a PercentSelected event),
// each topic once.
func (p *Publisher) Targets(ctx context.Context, plan *Plan) ([]Target, error) {
	targets := append([]Target{}, plan.Targets...)
	if plan.Percent <= 0 {
		return targets, nil
	}
	chosen, known, err := PercentTargets(ctx, p.Broker, p.Broker.Topics(), plan.Percent)
	if err != nil {
		return nil, err
	}
	p.Observe.emit(PercentSelected{Percent: plan.Percent, Chosen: len(chosen), Known: known})
	seen := map[string]bool{}
	for _, t := range targets {
		seen[t.Topic] = true
	}
	for _, t := range chosen {
		if !seen[t.Topic] {
			targets = append(targets, t)
		}
	}
	return targets, nil
}

// PercentChosen says whether a device falls in the first pct percent:
// the first 8 bytes of SHA-256 of its id, as a fraction of 2^64, below
// pct/100. The fraction is fixed per device, so raising pct only adds
// devices.
func PercentChosen(device string, pct float64) bool {
	if pct >= 100 {
		return true
	}
	sum := sha256.Sum256([]byte(device))
	frac := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
	return frac < pct/100
}

// KnownDevices lists the devices that retain a state report, sorted.
func KnownDevices(ctx context.Context, r RetainedReader, topics protocol.Topics) ([]string, error) {
	set := map[string]bool{}
	err := r.ReadRetainedAll(ctx, topics.ReportsFilter(), func(topic string, _ []byte) {
		if d, _, ok := topics.ParseReport(topic); ok {
			set[d] = true
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, nil
}

// PercentTargets are the device targets pct percent chooses among the
// devices that report, and how many report.
func PercentTargets(ctx context.Context, r RetainedReader, topics protocol.Topics, pct float64) ([]Target, int, error) {
	devices, err := KnownDevices(ctx, r, topics)
	if err != nil {
		return nil, 0, err
	}
	if len(devices) == 0 {
		return nil, 0, withHint(fmt.Errorf("--percent: no device state reports under %s", topics.ReportsFilter()),
			"devices must publish retained reports before a percentage of them can be chosen; use --device or --cohort")
	}
	var out []Target
	for _, d := range devices {
		if PercentChosen(d, pct) {
			topic, err := topics.Device(d)
			if err != nil {
				continue // ParseReport checked the id
			}
			out = append(out, Target{Kind: protocol.Device, Name: d, Topic: topic})
		}
	}
	return out, len(devices), nil
}

func catalogTargets(ts []Target, at string) []catalog.Target {
	out := make([]catalog.Target, 0, len(ts))
	for _, t := range ts {
		out = append(out, catalog.Target{Kind: t.Kind, Name: t.Name, At: at})
	}
	return out
}
