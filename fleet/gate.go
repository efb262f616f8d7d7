package fleet

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultPackage is the package a gate judges when none is named: the seed
// protocol's default package.
const DefaultPackage = "main"

// Threshold is a number of devices, or a share of them.
type Threshold struct {
	Count   int
	Percent float64 // used when IsShare
	IsShare bool
}

// ParseThreshold reads "N" (devices) or "P%" (a share of the devices).
func ParseThreshold(s string) (Threshold, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f > 100 || math.IsNaN(f) {
			return Threshold{}, fmt.Errorf("bad threshold %q: want a number of devices or a percentage from 0%% to 100%%", s)
		}
		return Threshold{Percent: f, IsShare: true}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return Threshold{}, fmt.Errorf("bad threshold %q: want a number of devices or a percentage like 10%%", s)
	}
	return Threshold{Count: n}, nil
}

// Of is the number of devices the threshold allows out of total, rounded
// down.
func (t Threshold) Of(total int) int {
	if !t.IsShare {
		return t.Count
	}
	return int(math.Floor(t.Percent*float64(total)/100 + 1e-9))
}

func (t Threshold) String() string {
	if t.IsShare {
		return strconv.FormatFloat(t.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(t.Count)
}

// ParseShare reads a share of devices: "P%" or a fraction from 0 to 1.
func ParseShare(s string) (float64, error) {
	s = strings.TrimSpace(s)
	p, pct := strings.CutSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
	if pct {
		f /= 100
	}
	if err != nil || f < 0 || f > 1 || math.IsNaN(f) {
		return 0, fmt.Errorf("bad share %q: want a percentage from 0%% to 100%% or a fraction from 0 to 1", s)
	}
	return f, nil
}

// Gate is what `rollout wait` waits for.
type Gate struct {
	Version string // the version devices must run
	Package string // default DefaultPackage
	// Devices, when given, are the devices that count, reported or not.
	// Otherwise, with Cohorts, the devices known to be in one of those
	// cohorts (see Fleet.SetCohort) count; otherwise every device that
	// reported for Package. Without Devices, at least Expect devices
	// count.
	Devices []string
	Cohorts []string
	Expect  int
	// MinUpdated is the share of the devices that must be updated to
	// Version, from 0 to 1; 0 means all of them. At least one always must.
	MinUpdated float64
	// MaxFailed is how many failed devices are allowed; the gate fails
	// when more fail. The zero value allows none.
	MaxFailed Threshold
	// RetryingAsPending counts a device that reports awaiting retry (reason
	// 11) for Version as pending. By default it counts as failed: an
	// attempt at Version failed (docs/protocol.md, "State reports").
	RetryingAsPending bool
}

// GateResult is a gate's verdict at one moment; output renders it in
// words (GateProgress, DescribeGate). Failed wins over Done: a
// rollout that crossed its failure threshold, or can no longer reach its
// goal, has failed even if enough devices updated. A command waiting on
// the gate sets Verdict to "timeout" when it gives up.
//
// The counts and the rows agree: Total is Updated + FailedCount +
// PendingCount; FailedCount is the number of Failures; PendingCount is
// the number of Pending rows plus NotKnown; NotSeen is the number of
// Pending rows without a report plus NotKnown.
type GateResult struct {
	Verdict string `json:"outcome"` // "done", "failed" or "pending" (JSON: outcome, docs/json.md)
	Done    bool   `json:"done"`
	// Failed is TooManyFailed or Unreachable.
	Failed bool `json:"failed"`
	// TooManyFailed: more devices failed than allowed.
	TooManyFailed bool `json:"tooManyFailed"`
	// Unreachable: the goal can no longer be met, as too few devices
	// are updated or can still update (see Evaluate).
	Unreachable bool   `json:"unreachable"`
	Version     string `json:"version"`
	Package     string `json:"package"`
	Total       int    `json:"total"`   // devices that count
	Updated     int    `json:"updated"` // of them, updated to Version
	Need        int    `json:"need"`    // updated devices needed
	FailedCount int    `json:"failedCount"`
	Allowed     int    `json:"allowedFailures"`
	// PendingCount counts the devices that are neither updated nor
	// failed: they can still update. NotSeen counts those among them
	// with no report for the package, NotKnown those among them that are
	// only expected (Gate.Expect) and so have no row.
	PendingCount int       `json:"pendingCount"`
	NotSeen      int       `json:"notSeen"`
	NotKnown     int       `json:"notKnown"`
	Failures     []Row     `json:"failures"`
	Pending      []Row     `json:"pending"`
	Time         time.Time `json:"time"`
}

// Evaluate judges gate g against what fleet knows now. A device counts as
// updated when its latest report for the package shows Version running
// (state Updated or Idle); as failed when the report carries a failure
// reason (2 to 10) about Version or about no named target, or awaits a
// retry (reason 11) of Version unless RetryingAsPending; otherwise as
// pending, stale when silent for the fleet's stale duration (see
// gateStatus, the one place that decides it).
//
// The gate is done when at least Need devices are updated. It has failed
// when more devices failed than allowed, or when the goal can no longer be
// met: a failed device cannot update, so when the updated devices and
// those that can still update (the pending ones, stale and never seen
// included) are fewer than Need, no report to come from them can pass the
// gate. Both judge the devices that count now: with no device list, a
// device that reports later joins the count at the next look. A gate with
// no device that counts is pending. Evaluate is a pure function of the
// fleet: a command calls it after each report or tick.
func Evaluate(fleet *Fleet, g Gate) GateResult {
	pkg := cmp.Or(g.Package, DefaultPackage)
	v := fleet.view(Filter{Package: pkg, Devices: g.Devices, Cohorts: g.Cohorts}, topK{unsorted: true})
	res := GateResult{Version: g.Version, Package: pkg, Time: v.Now, Failures: []Row{}, Pending: []Row{}}
	for _, row := range v.Rows {
		row.Target = g.Version
		row.Status = gateStatus(row, g, v.Now, v.Stale)
		switch row.Status {
		case StatusDone:
			res.Updated++
		case StatusFailed, StatusRetrying:
			// A device awaiting a retry failed an attempt at the version,
			// and the failure's own report may be gone: the Golioth SDK
			// reports the failure, then idle, then idle awaiting retry,
			// and only the last is retained.
			res.Failures = append(res.Failures, row)
		default:
			res.Pending = append(res.Pending, row)
			if !row.Seen {
				res.NotSeen++
			}
		}
	}
	byTrouble := func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Status, b.Status), cmp.Compare(a.Report.Device, b.Report.Device))
	}
	slices.SortFunc(res.Failures, byTrouble)
	slices.SortFunc(res.Pending, byTrouble)

	res.Total = len(v.Rows)
	if len(g.Devices) == 0 && g.Expect > res.Total {
		res.NotKnown = g.Expect - res.Total
		res.NotSeen += res.NotKnown
		res.Total = g.Expect
	}
	share := g.MinUpdated
	if share <= 0 || share > 1 {
		share = 1
	}
	res.Need = max(1, int(math.Ceil(share*float64(res.Total)-1e-9)))
	res.FailedCount = len(res.Failures)
	res.PendingCount = len(res.Pending) + res.NotKnown
	res.Allowed = g.MaxFailed.Of(res.Total)
	res.TooManyFailed = res.FailedCount > res.Allowed
	res.Unreachable = res.Total > 0 && res.Updated+res.PendingCount < res.Need
	res.Failed = res.TooManyFailed || res.Unreachable
	res.Done = !res.Failed && res.Total > 0 && res.Updated >= res.Need
	switch {
	case res.Failed:
		res.Verdict = "failed"
	case res.Done:
		res.Verdict = "done"
	default:
		res.Verdict = "pending"
	}
	return res
}

// gateStatus is how a device that counts stands against the gate's
// version: StatusDone when updated to it; StatusFailed when it cannot
// update, its latest report being a failure for that version;
// StatusRetrying when it awaits a retry of that version (StatusPending
// with RetryingAsPending); otherwise it can still update, StatusStale when
// silent for stale, else StatusPending. It is the one place that decides a device's failure
// state for a gate, so that a new state (a device awaiting a retry, say)
// counts the same in the failure threshold and in whether the goal can
// still be met.
func gateStatus(row Row, g Gate, now time.Time, stale time.Duration) RowStatus {
	if !row.Seen {
		// Never reported: pending, or stale once the watch has run for
		// the stale duration (as the fleet's view decided).
		return row.Status
	}
	st := classify(row.Report, g.Version)
	if st == StatusRetrying && g.RetryingAsPending {
		st = StatusPending
	}
	if st == StatusPending && now.Sub(row.LastSeen) >= stale {
		st = StatusStale
	}
	return st
}
