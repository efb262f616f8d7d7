// Package fleet is what otactl knows about a fleet of devices: the model
// built from their state reports and the retained desired manifests, the
// filters and views of it, the rollout gate judged on it, and the MQTT
// source that feeds it. It prints nothing: output renders its views.
package fleet

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/report"
)

// DefaultStale is how long a device that is not done may stay silent before
// it counts as stale.
const DefaultStale = 5 * time.Minute

// FleetOptions configures a Fleet. The zero value is usable.
type FleetOptions struct {
	// Now is the clock: it stamps reports that come without a time and
	// judges staleness. Default time.Now.
	Now func() time.Time
	// Stale is how long a device that is neither done nor failed may go
	// without a report before it counts as stale. Default DefaultStale.
	Stale time.Duration
	// KeepMalformed is how many of the latest malformed reports are kept
	// to show. Default 5.
	KeepMalformed int
}

// Fleet is what a watcher knows about a fleet: the latest report of every
// device for every package, the desired manifests and cohorts that decide
// each device's target, and the reports that did not decode. It knows
// nothing of MQTT: a Source (or a test) feeds it decoded reports (see
// Ingest), and commands render views of it. It is safe for concurrent
// use.
type Fleet struct {
	mu      sync.Mutex
	now     func() time.Time
	stale   time.Duration
	keepBad int
	started time.Time
	devices map[string]*fleetDevice
	list    deviceList // the devices' records, in the order they first reported
	rows    int
	// The desired manifests by scope.
	fleetWant  *desired
	cohortWant map[string]*desired
	deviceWant map[string]*desired
	cohortOf   map[string]string
	members    map[string]map[string]struct{}
	malformed  int
	recent     []MalformedReport // oldest first
	strs       map[string]string // interned package, version and target names
	// recentStrs holds the latest names interned, looked at before strs: a
	// fleet's reports name few packages and versions, so most names are
	// found here without hashing.
	recentStrs [4]string
	nextRecent int
}

// fleetDevice is one device: the time of its last report and its latest
// report per package.
type fleetDevice struct {
	id   string
	last int64 // Unix nanoseconds
	pkgs []fleetEntry
	gone bool // forgotten: no longer in the map
	// one holds the first package's entry, so that a device with one
	// package (the common case) takes a single allocation.
	one [1]fleetEntry
}

// fleetEntry is a report, kept small: names interned, time in nanoseconds.
// fail is the reason of the last failure report while the reports since
// are idle (see Row.LastFailure), 0 for none.
type fleetEntry struct {
	pkg, version, target string
	topic                string // shares its bytes with the device id
	received             int64
	state, reason, fail  int32
}

func (e *fleetEntry) report(device string) report.Report {
	return report.Report{
		Device:   device,
		Package:  e.pkg,
		State:    report.State(e.state),
		Reason:   report.Reason(e.reason),
		Version:  e.version,
		Target:   e.target,
		Topic:    e.topic,
		Received: time.Unix(0, e.received).UTC(),
	}
}

// MalformedReport is a report that did not decode.
type MalformedReport struct {
	Topic string    `json:"topic"`
	Error string    `json:"error"`
	Time  time.Time `json:"time"`
	// Why is what is wrong with it (report.Why): the end of Error.
	Why string `json:"-"`
}

// desired is a desired manifest reduced to what decides targets.
type desired struct {
	seq        int64
	components map[string]string // package -> version
}

// NewFleet returns an empty fleet.
func NewFleet(opts FleetOptions) *Fleet {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Stale <= 0 {
		opts.Stale = DefaultStale
	}
	if opts.KeepMalformed <= 0 {
		opts.KeepMalformed = 5
	}
	return &Fleet{
		now:        opts.Now,
		stale:      opts.Stale,
		keepBad:    opts.KeepMalformed,
		started:    opts.Now(),
		devices:    make(map[string]*fleetDevice),
		cohortWant: make(map[string]*desired),
		deviceWant: make(map[string]*desired),
		cohortOf:   make(map[string]string),
		members:    make(map[string]map[string]struct{}),
		strs:       make(map[string]string),
	}
}

// maxInterned bounds the table of shared names, so that devices reporting
// made-up versions cannot grow it without end.
const maxInterned = 4096

func (f *Fleet) intern(s string) string {
	if s == "" {
		return ""
	}
	for _, v := range f.recentStrs {
		if v == s {
			return v
		}
	}
	v, ok := f.strs[s]
	if !ok {
		if len(f.strs) >= maxInterned {
			return s
		}
		f.strs[s], v = s, s
	}
	f.recentStrs[f.nextRecent] = v
	f.nextRecent = (f.nextRecent + 1) % len(f.recentStrs)
	return v
}

// Ingest takes what report.FromMessage returns: a report is applied, an
// empty payload (report.ErrEmpty) forgets the device's package, and any
// other error counts the message as malformed.
func (f *Fleet) Ingest(r report.Report, err error) {
	switch {
	case err == nil:
		f.Apply(r)
	case errors.Is(err, report.ErrEmpty) && r.Device != "":
		f.Forget(r.Device, r.Package)
	default:
		f.Malformed(r.Topic, err)
	}
}

// Apply keeps r as the latest report of its device for its package,
// whatever came before: reports carry no clock of their own, so the order
// they are received in is the order that counts. A report without a time
// is stamped with the clock; one without a device or package counts as
// malformed.
func (f *Fleet) Apply(r report.Report) {
	if r.Device == "" || r.Package == "" {
		f.Malformed(r.Topic, errors.New("report names no device or package"))
		return
	}
	at := r.Received
	if at.IsZero() {
		at = f.now()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.devices[r.Device]
	if d == nil {
		d = f.list.add(r.Device)
		f.devices[r.Device] = d
	}
	d.last = at.UnixNano()
	i := 0
	for i < len(d.pkgs) && d.pkgs[i].pkg != r.Package {
		i++
	}
	if i == len(d.pkgs) {
		d.pkgs = append(d.pkgs, fleetEntry{pkg: f.intern(r.Package), topic: r.Topic})
		f.rows++
	}
	e := &d.pkgs[i]
	if e.topic != r.Topic {
		e.topic = r.Topic
	}
	e.fail = lastFailure(e, r)
	e.version = f.intern(r.Version)
	e.target = f.intern(r.Target)
	e.received = at.UnixNano()
	e.state, e.reason = int32(r.State), int32(r.Reason)
}

// lastFailure is the entry's failure reason once r follows the report e
// holds: r's own when r is a failure; the one before while r is idle
// (ready or awaiting retry) and names no other target than the report
// before it (the Golioth SDK reports a failure, then idle, then idle
// awaiting retry with the same target); otherwise none.
func lastFailure(e *fleetEntry, r report.Report) int32 {
	switch {
	case r.Failed():
		return int32(r.Reason)
	case r.State == report.Idle && (r.Reason == report.ReasonReady || r.Reason == report.ReasonAwaitingRetry) &&
		(r.Target == "" || e.target == "" || r.Target == e.target):
		return e.fail
	}
	return 0
}

// Forget drops what is known of device for pkg (all packages when pkg is
// empty), as when its retained report is cleared. A device with no package
// left is forgotten altogether.
func (f *Fleet) Forget(device, pkg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.devices[device]
	if d == nil {
		return
	}
	kept := d.pkgs[:0]
	for _, e := range d.pkgs {
		if pkg == "" || e.pkg == pkg {
			f.rows--
			continue
		}
		kept = append(kept, e)
	}
	clear(d.pkgs[len(kept):])
	d.pkgs = kept
	if len(kept) == 0 {
		delete(f.devices, device)
		f.list.forget(d, func(moved *fleetDevice) { f.devices[moved.id] = moved })
	}
}

// Malformed counts a message that is not a report and keeps it among the
// latest few to show.
func (f *Fleet) Malformed(topic string, err error) {
	msg := report.ErrMalformed.Error()
	why := msg
	if err != nil {
		msg, why = err.Error(), report.Why(err)
	}
	// Why ends msg, and is clipped where msg is.
	m := MalformedReport{Topic: clip(topic, 256), Error: clip(msg, 256), Why: clip(why, 256-len(msg)+len(why)), Time: f.now().UTC()}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.malformed++
	if len(f.recent) == f.keepBad {
		copy(f.recent, f.recent[1:])
		f.recent = f.recent[:len(f.recent)-1]
	}
	f.recent = append(f.recent, m)
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// SetDesired records the desired manifest retained at scope, the target it
// is published to (the fleet, a cohort or a device): its sequence number
// and its components as package -> version. No components (a cleared
// topic, or a manifest meaning "no release") removes it.
func (f *Fleet) SetDesired(scope protocol.Target, seq int64, components map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var d *desired
	if len(components) > 0 {
		d = &desired{seq: seq, components: make(map[string]string, len(components))}
		for p, v := range components {
			d.components[f.intern(p)] = f.intern(v)
		}
	}
	switch scope.Kind {
	case protocol.Fleet:
		f.fleetWant = d
	case protocol.Cohort:
		setOrDelete(f.cohortWant, scope.Name, d)
	case protocol.Device:
		setOrDelete(f.deviceWant, scope.Name, d)
	}
}

func setOrDelete(m map[string]*desired, k string, d *desired) {
	if d == nil {
		delete(m, k)
	} else {
		m[k] = d
	}
}

// SetCohort puts device in cohort (a device is in at most one); an empty
// cohort takes it out.
func (f *Fleet) SetCohort(device, cohort string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.cohortOf[device]; ok {
		delete(f.members[old], device)
		if len(f.members[old]) == 0 {
			delete(f.members, old)
		}
		delete(f.cohortOf, device)
	}
	if cohort == "" {
		return
	}
	cohort = f.intern(cohort)
	f.cohortOf[device] = cohort
	if f.members[cohort] == nil {
		f.members[cohort] = make(map[string]struct{})
	}
	f.members[cohort][device] = struct{}{}
}

// Desired reports the desired manifest recorded at scope (see SetDesired):
// its sequence number, its components as package -> version, and whether
// there is one. The map is the caller's.
func (f *Fleet) Desired(scope protocol.Target) (seq int64, versions map[string]string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.desiredAt(scope)
	if d == nil {
		return 0, nil, false
	}
	versions = make(map[string]string, len(d.components))
	for p, v := range d.components {
		versions[p] = v
	}
	return d.seq, versions, true
}

// DesiredVersion is the version of pkg the desired manifest recorded at
// scope gives, or "" when there is no manifest or it has no such package.
func (f *Fleet) DesiredVersion(scope protocol.Target, pkg string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := f.desiredAt(scope); d != nil {
		return d.components[pkg]
	}
	return ""
}

// desiredAt is the manifest recorded at scope, nil when none; f.mu is held.
func (f *Fleet) desiredAt(scope protocol.Target) *desired {
	switch scope.Kind {
	case protocol.Cohort:
		return f.cohortWant[scope.Name]
	case protocol.Device:
		return f.deviceWant[scope.Name]
	}
	return f.fleetWant
}

// CohortMembers lists the devices known to be in cohort, sorted.
func (f *Fleet) CohortMembers(cohort string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.members[cohort]))
	for id := range f.members[cohort] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// MalformedCount reports how many malformed messages were seen and the latest
// few, oldest first.
func (f *Fleet) MalformedCount() (int, []MalformedReport) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.malformed, append([]MalformedReport(nil), f.recent...)
}

// Len is the number of devices with at least one report.
func (f *Fleet) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.devices)
}

// desiredTarget is the version a device is told to run for pkg: of the
// manifests at its device, cohort (when its cohort is known) and fleet
// scopes, the one with the highest sequence number counts, as a device
// acts on that one (docs/protocol.md#topics); on equal numbers the narrower
// scope wins. The version is that manifest's component for pkg, if any.
func (f *Fleet) desiredTarget(device, pkg string) string {
	best := f.fleetWant
	if len(f.cohortWant) > 0 {
		if c := f.cohortOf[device]; c != "" {
			if d := f.cohortWant[c]; d != nil && (best == nil || d.seq >= best.seq) {
				best = d
			}
		}
	}
	if len(f.deviceWant) > 0 {
		if d := f.deviceWant[device]; d != nil && (best == nil || d.seq >= best.seq) {
			best = d
		}
	}
	if best == nil {
		return ""
	}
	return best.components[pkg]
}

// target resolves the version a device is heading to for a package: the
// target its own report names, while it has not reached it; else what the
// desired manifests say; else the report's target, if any.
func (f *Fleet) target(device string, e *fleetEntry) string {
	if e.target != "" && !(e.version == e.target && (e.state == int32(report.Idle) || e.state == int32(report.Updated))) {
		return e.target
	}
	if t := f.desiredTarget(device, e.pkg); t != "" {
		return t
	}
	return e.target
}
