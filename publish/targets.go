package publish

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/otactl/otactl/catalog"
	fleetmodel "github.com/otactl/otactl/fleet" // "fleet" is a test fixture of this package
	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/protocol"
)

// Targets is the targets step: the plan's targets, then, with a Percent,
// the devices it chooses among those that report (a PercentSelected event),
// each topic once.
func (p *Publisher) Targets(ctx context.Context, plan *Plan) ([]Target, error) {
	targets := append([]Target{}, plan.Targets...)
	seen := map[string]bool{}
	for _, t := range targets {
		seen[t.Topic] = true
	}
	add := func(ts []Target) {
		for _, t := range ts {
			if !seen[t.Topic] {
				seen[t.Topic] = true
				targets = append(targets, t)
			}
		}
	}
	for _, glob := range plan.DeviceGlobs {
		matched, known, err := GlobTargets(ctx, p.Broker, p.Broker.Topics(), glob)
		if err != nil {
			return nil, err
		}
		p.Observe.emit(DevicesMatched{Glob: glob, Matched: len(matched), Known: known})
		add(matched)
	}
	if plan.Percent > 0 {
		chosen, known, err := PercentTargets(ctx, p.Broker, p.Broker.Topics(), plan.Percent)
		if err != nil && known == 0 && ctx.Err() == nil {
			// No device reports: say so only if the broker would have
			// delivered them (fleet.CheckEmpty).
			var werr *fleetmodel.WildcardError
			if errors.As(fleetmodel.CheckEmpty(ctx, p.Broker, 0, nil), &werr) {
				return nil, fmt.Errorf("--percent: %w", werr)
			}
		}
		if err != nil {
			return nil, err
		}
		p.Observe.emit(PercentSelected{Percent: plan.Percent, Chosen: len(chosen), Known: known})
		if len(chosen) == 0 && len(targets) == 0 {
			return nil, hint.Wrap(fmt.Errorf("--percent %g chooses none of the %d devices that report under %s", plan.Percent, known, p.Broker.Topics().ReportsFilter()),
				"a device is chosen when a hash of its id falls in the first --percent of the range: raise --percent, or name devices with --device")
		}
		add(chosen)
	}
	return targets, nil
}

// IsGlob says whether a --device value is a pattern (*, ? or [...]) rather
// than a device id.
func IsGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// GlobTargets are the device targets of the reporting devices whose id
// matches glob (path.Match), and how many report; none matching is an
// error naming the glob.
func GlobTargets(ctx context.Context, r RetainedReader, topics protocol.Topics, glob string) ([]Target, int, error) {
	if _, err := path.Match(glob, ""); err != nil {
		return nil, 0, fmt.Errorf("--device %q: %w", glob, err)
	}
	devices, err := KnownDevices(ctx, r, topics)
	if err != nil {
		return nil, 0, err
	}
	var out []Target
	for _, d := range devices {
		if ok, _ := path.Match(glob, d); ok {
			if topic, err := topics.Device(d); err == nil {
				out = append(out, Target{Kind: protocol.Device, Name: d, Topic: topic})
			}
		}
	}
	if len(out) == 0 {
		return nil, len(devices), hint.Wrap(fmt.Errorf("--device %q matches none of the %d devices that report under %s", glob, len(devices), topics.ReportsFilter()),
			"a pattern picks among devices that retain a state report; name a device that has not reported yet by its id")
	}
	return out, len(devices), nil
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
		return nil, 0, hint.Wrap(fmt.Errorf("--percent: no device state reports under %s", topics.ReportsFilter()),
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
