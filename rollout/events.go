package rollout

import (
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/publish"
)

// The kinds of Event.
const (
	EventStarted      = "started"       // a new rollout, its plan
	EventResumed      = "resumed"       // a rollout taken up where it stopped
	EventStageStarted = "stage-started" // a stage's publish begins
	EventPublished    = "published"     // the stage's targets have the release
	EventGate         = "gate"          // the stage's gate, still undecided, changed
	EventGatePassed   = "gate-passed"
	EventGateFailed   = "gate-failed"
	EventBaked        = "baked"    // the bake time passed with no new failure
	EventRestored     = "restored" // the previous release published again
	EventPaused       = "paused"   // stopped on a failed gate, nothing restored
	EventTimeout      = "timeout"  // the rollout's deadline passed
	EventDone         = "done"
)

// Event is one step of a rollout as it happens: what a command renders,
// and what -o json streams, one a line.
type Event struct {
	Kind   string    `json:"event"`
	Time   time.Time `json:"time"`
	Stage  int       `json:"stage,omitempty"` // from 1
	Stages int       `json:"stages,omitempty"`
	Step   string    `json:"step,omitempty"`
	// Sequence is the release's, or, for restored, the new manifest's.
	Sequence int64  `json:"sequenceNumber,omitempty"`
	Version  string `json:"version,omitempty"`
	// Targets counts the desired topics published (or restored) to.
	Targets int         `json:"targets,omitempty"`
	Gate    *GateCounts `json:"gate,omitempty"`
	// Failures name the failed devices of a failed gate (at most 50).
	Failures []Failure `json:"failures,omitempty"`
	// Endpoints say, with several broker endpoints, on which the stage's
	// desired manifest (published, paused) or the restore (restored) was
	// confirmed, the publishing connection first.
	Endpoints []publish.EndpointResult `json:"endpoints,omitempty"`
	Status    string                   `json:"status,omitempty"`
	Message   string                   `json:"message,omitempty"`
}

// GateCounts is a gate's verdict in numbers.
type GateCounts struct {
	Verdict string `json:"outcome"`
	Total   int    `json:"total"`
	Updated int    `json:"updated"`
	Need    int    `json:"need"`
	Failed  int    `json:"failed"`
	Allowed int    `json:"allowedFailures"`
	Pending int    `json:"pending"`
}

// Failure is a failed device and why.
type Failure struct {
	Device string `json:"device"`
	Reason string `json:"reason"`
}

// Observer is told every Event.
type Observer func(Event)

const maxNamed = 50

func countsOf(res fleet.GateResult) *GateCounts {
	return &GateCounts{Verdict: res.Verdict, Total: res.Total, Updated: res.Updated, Need: res.Need,
		Failed: res.FailedCount, Allowed: res.Allowed, Pending: res.PendingCount}
}

func failuresOf(res fleet.GateResult) []Failure {
	var out []Failure
	for _, r := range res.Failures {
		if len(out) == maxNamed {
			break
		}
		out = append(out, Failure{Device: r.Report.Device, Reason: r.Report.Reason.String()})
	}
	return out
}
