// Package rollout is the staged rollout engine of 'otactl rollout start':
// the stages of --steps, each published through the publish core
// (publish.Publisher, with every guarantee of 'release publish'), gated on
// the devices it reached (fleet.Evaluate, the gate of 'rollout wait'),
// baked and widened; on a failed gate it pauses, halts or rolls back,
// restoring the previous release through the same core. Its state and a
// lock are retained on the broker (docs/rollouts.md), so that another
// machine can see it and a run killed half way resumes. It prints nothing:
// what happens is told to an Observer as Events.
package rollout

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/otactl/otactl/release"
)

// StepKind is what one stage targets.
type StepKind int

// The kinds of stage.
const (
	// Percent targets the devices that fall in a percentage of the fleet
	// by the stable hash of 'release publish --percent'.
	Percent StepKind = iota
	// Cohort targets a cohort's desired topic.
	Cohort
	// Fleet (100%) targets the fleet's desired topic.
	Fleet
)

// Step is one stage of a rollout.
type Step struct {
	Kind    StepKind
	Percent float64 // Percent
	Cohort  string  // Cohort
}

// String is the step as --steps writes it: 10%, cohort:NAME or 100%.
func (s Step) String() string {
	switch s.Kind {
	case Cohort:
		return "cohort:" + s.Cohort
	case Fleet:
		return "100%"
	}
	return strconv.FormatFloat(s.Percent, 'f', -1, 64) + "%"
}

// ParseSteps reads a comma list of stages: percentages of the fleet's
// devices ("10%", growing from one to the next), cohorts ("cohort:NAME")
// and "100%", the fleet's desired topic, which can only come last. A
// rollout that does not end at 100% stops with the fleet's desired topic
// untouched.
func ParseSteps(s string) ([]Step, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("--steps: no stage given: want a list like 10%%,50%%,100%%")
	}
	var steps []Step
	last := 0.0
	cohorts := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if len(steps) > 0 && steps[len(steps)-1].Kind == Fleet {
			return nil, fmt.Errorf("--steps: %q after 100%%: the fleet stage is the last", part)
		}
		if name, ok := strings.CutPrefix(part, "cohort:"); ok {
			if err := release.ValidateCohort(name); err != nil {
				return nil, fmt.Errorf("--steps: %q: %w", part, err)
			}
			if cohorts[name] {
				return nil, fmt.Errorf("--steps: cohort %s given twice", name)
			}
			cohorts[name] = true
			steps = append(steps, Step{Kind: Cohort, Cohort: name})
			continue
		}
		p, ok := strings.CutSuffix(part, "%")
		f, err := strconv.ParseFloat(p, 64)
		if !ok || err != nil || math.IsNaN(f) || f <= 0 || f > 100 {
			return nil, fmt.Errorf("--steps: bad stage %q: want a percentage above 0%% and at most 100%%, or cohort:NAME", part)
		}
		if f <= last {
			return nil, fmt.Errorf("--steps: %s after %s: percentages must grow", part, strconv.FormatFloat(last, 'f', -1, 64)+"%")
		}
		last = f
		if f == 100 {
			steps = append(steps, Step{Kind: Fleet, Percent: 100})
			continue
		}
		steps = append(steps, Step{Kind: Percent, Percent: f})
	}
	return steps, nil
}

// FormatSteps is steps as --steps writes them.
func FormatSteps(steps []Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}
