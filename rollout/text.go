package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/text"
)

// Text is the event in words, for a log or a terminal: one line, or more
// for a failed gate, which names its failed devices.
func (e Event) Text() string {
	stage := fmt.Sprintf("stage %d/%d %s", e.Stage, e.Stages, e.Step)
	switch e.Kind {
	case EventStarted:
		return fmt.Sprintf("rollout of release %d (%s) in %d stages: %s; %s", e.Sequence, e.Version, e.Stages, e.Step, e.Message)
	case EventResumed:
		return fmt.Sprintf("resuming the rollout of release %d (%s) at stage %d/%d", e.Sequence, e.Version, e.Stage, e.Stages)
	case EventStageStarted:
		return stage + ": publishing"
	case EventPublished:
		return fmt.Sprintf("%s: published to %s%s, waiting for the gate", stage, text.Plural(e.Targets, "target"), e.confirmed())
	case EventGate:
		return fmt.Sprintf("%s: %s", stage, e.Gate)
	case EventGatePassed, EventBaked:
		what := map[string]string{EventGatePassed: "gate passed", EventBaked: "baked " + e.Message}[e.Kind]
		if e.Gate == nil {
			return fmt.Sprintf("%s: %s: %s", stage, what, e.Message)
		}
		return fmt.Sprintf("%s: %s: %s", stage, what, e.Gate)
	case EventGateFailed:
		lines := []string{fmt.Sprintf("%s: gate failed: %s", stage, e.Gate)}
		for _, f := range e.Failures {
			lines = append(lines, fmt.Sprintf("  %s: %s", f.Device, f.Reason))
		}
		return strings.Join(lines, "\n")
	case EventRestored:
		return fmt.Sprintf("%s: restored on %s%s: %s", stage, text.Plural(e.Targets, "target"), e.confirmed(), e.Message)
	case EventPaused:
		if len(e.Endpoints) > 0 {
			return fmt.Sprintf("%s: paused: nothing restored: %s", stage, e.Message)
		}
		return stage + ": paused: nothing restored"
	case EventTimeout:
		if strings.HasPrefix(e.Message, notBegunMessage) {
			return stage + ": not begun, the deadline passed; paused: nothing restored"
		}
		return stage + ": timed out, paused: nothing restored"
	case EventDone:
		return fmt.Sprintf("rollout done: release %d (%s) %s", e.Sequence, e.Version, strings.TrimSpace("on every stage "+e.Message))
	}
	return ""
}

// confirmed says on how many broker endpoints a publish was confirmed,
// when there are several.
func (e Event) confirmed() string {
	if len(e.Endpoints) == 0 {
		return ""
	}
	return fmt.Sprintf(" (confirmed on %s)", text.Plural(len(e.Endpoints), "endpoint"))
}

// String is the gate's counts in words.
func (g *GateCounts) String() string {
	return fmt.Sprintf("%d/%d updated (need %d), %d failed (allowed %d), %d pending", g.Updated, g.Total, g.Need, g.Failed, g.Allowed, g.Pending)
}

// Lines are the state in words: the rollout, then each stage's counts,
// then why it stopped.
func (st *State) Lines() []string {
	lines := []string{fmt.Sprintf("rollout of release %d (%s %s), steps %s: %s, stage %d of %d, started by %s at %s",
		st.Sequence, st.Package, st.Version, st.Steps, st.Status, st.Stage+1, len(st.Stages), st.StartedBy, st.StartedAt.Format(time.RFC3339))}
	for i, s := range st.Stages {
		lines = append(lines, fmt.Sprintf("  stage %d %s: %s, %s, %d/%d updated, %d failed, %d pending",
			i+1, s.Step, s.Status, text.Plural(s.Targets, "target"), s.Updated, s.Total, s.Failed, s.Pending))
	}
	if st.Message != "" {
		lines = append(lines, "  "+st.Message)
	}
	return lines
}
