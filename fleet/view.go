package fleet

import (
	"cmp"
	"fmt"
	"iter"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/otactl/otactl/report"
)

// RowStatus is how a device stands with one package, in the order trouble
// is shown: failed first, then retrying, stale, pending, and done.
type RowStatus int

// The statuses of a row.
const (
	// StatusFailed: the latest report carries a failure reason (2 to 10)
	// about the row's target (or names no target).
	StatusFailed RowStatus = iota
	// StatusRetrying: the latest report is awaiting retry (reason 11) of
	// the row's target: an attempt at it failed, and the device will try
	// again by itself (Row.LastFailure says why, when that was seen).
	StatusRetrying
	// StatusStale: pending, and the device has sent nothing for the stale
	// duration (or, never seen, since the watch began).
	StatusStale
	// StatusPending: neither done, failed nor retrying: downloading, not
	// yet told, or not yet reported.
	StatusPending
	// StatusDone: updated to the target; with no target known, idle or
	// just updated.
	StatusDone
)

var statusNames = [...]string{"failed", "retrying", "stale", "pending", "done"}

func (s RowStatus) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprint(int(s))
}

// MarshalText writes the status's name.
func (s RowStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// classify says how a report stands against target, staleness aside. A
// failure about another target than this one (a retained report from an
// earlier rollout) does not count against this one: the device will try
// again and is pending; so is a device awaiting a retry of another
// version.
func classify(r report.Report, target string) RowStatus {
	switch {
	case target != "" && r.UpdatedTo(target):
		return StatusDone
	case r.Failed() && (r.Target == "" || target == "" || r.Target == target):
		return StatusFailed
	case r.Reason == report.ReasonAwaitingRetry && target != "" && r.Target == target:
		return StatusRetrying
	case target == "" && r.Reason != report.ReasonAwaitingRetry &&
		(r.State == report.Idle || (r.State == report.Updated && r.Reason == report.ReasonUpdated)):
		return StatusDone
	}
	return StatusPending
}

// Filter picks the rows a view shows. The zero value picks every row.
type Filter struct {
	Package string // only this package
	Version string // only rows whose target is this version
	Device  string // only device ids matching this path.Match pattern
	// Devices, when not empty, limits rows to these devices (a cohort, or
	// the devices named on the command line). A listed device with no
	// report (for Package, when given) shows as an unseen row, pending and
	// then stale, so that a silent device is not missed.
	Devices []string
	// Cohorts, when set and Devices is empty, limits rows to the devices
	// known to be in one of these cohorts (see Fleet.SetCohort); a member
	// with no report shows as an unseen row, as a listed device does. A
	// cohort with no known member adds no row.
	Cohorts    []string
	States     []report.State // only rows in one of these states
	FailedOnly bool           // only failed and retrying rows
}

// Validate checks the device pattern.
func (flt Filter) Validate() error {
	if flt.Device != "" {
		if _, err := path.Match(flt.Device, ""); err != nil {
			return fmt.Errorf("bad device pattern %q: %v", flt.Device, err)
		}
	}
	return nil
}

func (flt *Filter) matchDevice(id string) bool {
	if flt.Device == "" {
		return true
	}
	ok, _ := path.Match(flt.Device, id)
	return ok
}

// Row is one device's standing for one package.
type Row struct {
	Report   report.Report // the latest report as received; zero when !Seen
	Seen     bool          // false for a listed device with no report
	Target   string        // the version the device is heading to (see Fleet.View)
	Status   RowStatus
	Cohort   string    // when known
	LastSeen time.Time // the device's last report, for any package
	// LastFailure is, for a report that is not itself a failure, the
	// failure reason (2 to 10) of the device's last failure report for the
	// package while its reports since are idle (as the Golioth SDK's are
	// after a failure: idle, then idle awaiting retry); 0 when none was
	// seen since the watch began.
	LastFailure report.Reason
}

// ReasonCount is how many rows failed for one reason.
type ReasonCount struct {
	Reason report.Reason `json:"reason"`
	Name   string        `json:"reasonName"`
	Count  int           `json:"count"`
}

// Summary counts the rows of a view.
type Summary struct {
	Devices  int            `json:"devices"` // distinct devices with a report
	Reports  int            `json:"reports"` // rows with a report
	Unseen   int            `json:"unseen"`  // listed devices with no report
	States   map[string]int `json:"states"`  // reports per state name
	Target   string         `json:"target"`  // the target, when all targeted rows share one
	Targets  int            `json:"targets"` // distinct targets
	Targeted int            `json:"targeted"`
	// Updated counts rows updated to their target; UpdatedPercent is its
	// share of the targeted rows.
	Updated         int               `json:"updated"`
	UpdatedPercent  float64           `json:"updatedPercent"`
	Done            int               `json:"done"`
	Pending         int               `json:"pending"`
	Stale           int               `json:"stale"`
	Failed          int               `json:"failed"`
	Retrying        int               `json:"retrying"`
	Failures        []ReasonCount     `json:"failures"` // most frequent first
	Malformed       int               `json:"malformed"`
	RecentMalformed []MalformedReport `json:"recentMalformed"`
}

// View is a picture of the fleet at one moment: the summary of the rows a
// filter picks, and those rows, trouble first.
type View struct {
	Now     time.Time
	Stale   time.Duration
	Summary Summary
	Rows    []Row // sorted: failed, stale, pending, done; then device, package
	Total   int   // rows picked, before the limit
}

// candidate is a row before sorting, cheap to move.
type candidate struct {
	id     string
	pkg    string
	dev    *fleetDevice
	e      *fleetEntry // nil when unseen
	target string
	status RowStatus
}

// compareCandidates orders by status, device, package; each compare only
// when the ones before it tie (cmp.Or would make all three every time).
func compareCandidates(a, b *candidate) int {
	if a.status != b.status {
		return cmp.Compare(a.status, b.status)
	}
	if c := strings.Compare(a.id, b.id); c != 0 {
		return c
	}
	return strings.Compare(a.pkg, b.pkg)
}

// topK keeps the first k candidates in sort order, in O(log k) per
// candidate that makes it, O(1) per one that does not; k <= 0 keeps all,
// unsorted until sorted() is called.
type topK struct {
	k        int
	unsorted bool // with k <= 0: leave the rows in any order
	dropDone bool // keep no done row (they still count in the summary)
	rows     []candidate
}

func (t *topK) add(c candidate) {
	if t.dropDone && c.status == StatusDone {
		return
	}
	if t.k <= 0 {
		t.rows = append(t.rows, c)
		return
	}
	if len(t.rows) == t.k && compareCandidates(&c, &t.rows[t.k-1]) >= 0 {
		return
	}
	i, _ := slices.BinarySearchFunc(t.rows, c, func(a, b candidate) int { return compareCandidates(&a, &b) })
	if len(t.rows) < t.k {
		t.rows = append(t.rows, candidate{})
	}
	copy(t.rows[i+1:], t.rows[i:len(t.rows)-1])
	t.rows[i] = c
}

func (t *topK) sorted() []candidate {
	if t.k <= 0 && !t.unsorted {
		sortCandidates(t.rows)
	}
	return t.rows
}

// View returns the rows flt picks, sorted trouble first, at most limit of
// them (all when limit <= 0), and the summary of all of them.
//
// A row's target is the target its report names while the device has not
// reached it; otherwise the desired target: of the manifests at the
// device's own scope, its cohort's (when its cohort is known) and the
// fleet's, the one with the highest sequence number, the narrower scope on
// equal numbers; otherwise none.
func (f *Fleet) View(flt Filter, limit int) View {
	return f.view(flt, topK{k: limit})
}

// view is View with the rows kept as top says.
func (f *Fleet) view(flt Filter, top topK) View {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, cands := f.collect(flt, top)
	v.Rows = make([]Row, len(cands))
	for i := range cands {
		v.Rows[i] = f.row(&cands[i])
	}
	return v
}

// Rows is the rows View(flt, 0) would return, in its order, one at a time:
// no slice of every row is built (about 200 bytes a row), which matters
// when there are a million of them. The fleet stays locked while the
// sequence runs: the loop's body must not call the fleet's methods.
func (f *Fleet) Rows(flt Filter) iter.Seq[Row] {
	return func(yield func(Row) bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		_, cands := f.collect(flt, topK{unsorted: true})
		for _, k := range sortOrder(cands) {
			if !yield(f.row(&cands[k.i])) {
				return
			}
		}
	}
}

// row is the row of a candidate; f.mu is held.
func (f *Fleet) row(c *candidate) Row {
	row := Row{Seen: c.e != nil, Target: c.target, Status: c.status}
	if len(f.cohortOf) > 0 {
		row.Cohort = f.cohortOf[c.id]
	}
	if c.e != nil {
		row.Report = c.e.report(c.id)
		row.LastSeen = time.Unix(0, c.dev.last).UTC()
		if !row.Report.Failed() {
			row.LastFailure = report.Reason(c.e.fail)
		}
	} else {
		row.Report = report.Report{Device: c.id, Package: c.pkg}
	}
	return row
}

// collect is the view's summary and its candidates in order, the rows
// kept as top says; f.mu is held.
func (f *Fleet) collect(flt Filter, top topK) (View, []candidate) {
	if top.k <= 0 && top.rows == nil {
		// Every row may make it: room for the rows there are (about one
		// per listed device) at once, rather than growing and copying
		// the list as it fills.
		n := f.rows
		switch {
		case len(flt.Devices) > 0:
			n = len(flt.Devices)
		case len(flt.Cohorts) > 0:
			n = 0
			for _, c := range uniqueNames(flt.Cohorts) {
				n += len(f.members[c])
			}
		}
		top.rows = make([]candidate, 0, n)
	}
	now := f.now()
	nowNano := now.UnixNano()
	v := View{Now: now, Stale: f.stale}
	sum := &v.Summary
	var stateCount [4]int
	otherStates := map[report.State]int{}
	targets := map[string]struct{}{}
	lastTarget := ""
	failures := map[report.Reason]int{}
	var states map[report.State]bool
	if len(flt.States) > 0 {
		states = make(map[report.State]bool, len(flt.States))
		for _, s := range flt.States {
			states[s] = true
		}
	}

	add := func(c candidate) {
		top.add(c)
		if c.e != nil {
			sum.Reports++
			if s := report.State(c.e.state); s >= 0 && int(s) < len(stateCount) {
				stateCount[s]++
			} else {
				otherStates[s]++
			}
		} else {
			sum.Unseen++
		}
		if c.target != "" {
			sum.Targeted++
			if c.target != lastTarget {
				targets[c.target] = struct{}{}
				lastTarget = c.target
			}
			if c.e != nil && c.e.reportOf().UpdatedTo(c.target) {
				sum.Updated++
			}
		}
		switch c.status {
		case StatusDone:
			sum.Done++
		case StatusPending:
			sum.Pending++
		case StatusStale:
			sum.Stale++
		case StatusFailed:
			sum.Failed++
			failures[report.Reason(c.e.reason)]++
		case StatusRetrying:
			sum.Retrying++
		}
	}
	unseen := func(id string) {
		if states != nil || flt.FailedOnly {
			return
		}
		c := candidate{id: id, pkg: flt.Package, status: StatusPending}
		if flt.Package != "" {
			c.target = f.desiredTarget(id, flt.Package)
		}
		if now.Sub(f.started) >= f.stale {
			c.status = StatusStale
		}
		add(c)
	}
	listed := len(flt.Devices) > 0 || len(flt.Cohorts) > 0
	visit := func(id string, d *fleetDevice) {
		if !flt.matchDevice(id) {
			return
		}
		if d == nil {
			unseen(id)
			return
		}
		counted, hasPkg := false, false
		for i := range d.pkgs {
			e := &d.pkgs[i]
			if flt.Package != "" && e.pkg != flt.Package {
				continue
			}
			hasPkg = true
			t := f.target(id, e)
			if flt.Version != "" && t != flt.Version {
				continue
			}
			if states != nil && !states[report.State(e.state)] {
				continue
			}
			st := classify(e.reportOf(), t)
			if st == StatusPending && nowNano-d.last >= int64(f.stale) {
				st = StatusStale
			}
			if flt.FailedOnly && st != StatusFailed && st != StatusRetrying {
				continue
			}
			add(candidate{id: id, pkg: e.pkg, dev: d, e: e, target: t, status: st})
			if !counted {
				sum.Devices++
				counted = true
			}
		}
		if !hasPkg && listed {
			unseen(id)
		}
	}
	switch {
	case len(flt.Devices) > 0:
		seen := make(map[string]bool, len(flt.Devices))
		for _, id := range flt.Devices {
			if !seen[id] {
				seen[id] = true
				visit(id, f.devices[id])
			}
		}
	case len(flt.Cohorts) > 0:
		// A device is in one cohort at most: no device is visited twice.
		for _, c := range uniqueNames(flt.Cohorts) {
			for id := range f.members[c] {
				visit(id, f.devices[id])
			}
		}
	default:
		for d := range f.list.all {
			visit(d.id, d)
		}
	}

	cands := top.sorted()
	v.Total = sum.Reports + sum.Unseen

	sum.States = make(map[string]int, len(stateCount)+len(otherStates))
	for s, n := range stateCount {
		sum.States[report.State(s).String()] = n
	}
	for s, n := range otherStates {
		sum.States[s.String()] = n
	}
	if len(targets) == 1 {
		sum.Target = lastTarget
	}
	sum.Targets = len(targets)
	if sum.Targeted > 0 {
		sum.UpdatedPercent = math.Round(1000*float64(sum.Updated)/float64(sum.Targeted)) / 10
	}
	sum.Failures = make([]ReasonCount, 0, len(failures))
	for r, n := range failures {
		sum.Failures = append(sum.Failures, ReasonCount{Reason: r, Name: r.String(), Count: n})
	}
	slices.SortFunc(sum.Failures, func(a, b ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
	})
	sum.Malformed = f.malformed
	sum.RecentMalformed = append([]MalformedReport{}, f.recent...)
	return v, cands
}

// reportOf is the part of a report that decides its standing.
func (e *fleetEntry) reportOf() report.Report {
	return report.Report{State: report.State(e.state), Reason: report.Reason(e.reason), Version: e.version, Target: e.target}
}

// Summary is the summary of the rows flt picks.
func (f *Fleet) Summary(flt Filter) Summary {
	return f.View(flt, 1).Summary
}

// StatusReport is what `rollout status` prints: the summary and the rows
// that are not done, trouble first.
type StatusReport struct {
	Time    time.Time `json:"time"`
	Summary Summary   `json:"summary"`
	NotDone []Row     `json:"devices"`
}

// Status returns the summary of the rows flt picks and those not done,
// sorted as View sorts them. Done rows are left out before sorting: in a
// rollout that went well they are most of the fleet.
func (f *Fleet) Status(flt Filter) StatusReport {
	v := f.view(flt, topK{dropDone: true})
	return StatusReport{Time: v.Now.UTC(), Summary: v.Summary, NotDone: v.Rows}
}

// uniqueNames is names without repeats, in their first order.
func uniqueNames(names []string) []string {
	if len(names) < 2 {
		return names
	}
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
