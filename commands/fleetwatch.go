package commands

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// dialer connects to the broker a command was told to use.
type dialer func(ctx context.Context) (*upload.Client, error)

// fleetSource fills a fleet model from a broker: the retained desired
// manifests (which decide each device's target) and the devices' state
// reports, read once or followed live. It is the only place where the
// watch and rollout commands turn MQTT messages into the model's terms.
type fleetSource struct {
	client *upload.Client
	topics upload.Topics
	fleet  *fleet.Fleet
	now    func() time.Time
	stderr io.Writer

	// cohort is the cohort the command looks at. With infer set its
	// members are not known: a device joins it when it reports the
	// version the cohort's desired manifest gives its package, as running
	// or target version (see docs/watch.md, "Cohorts").
	cohort string
	infer  bool

	mu         sync.Mutex
	cohortWant map[string]string // package -> version, the cohort's manifest
	cohortSeq  int64
	haveCohort bool
	fleetWant  map[string]string // package -> version, the fleet's manifest
	fleetSeq   int64
	badDesired map[string]bool // desired topics already warned about
}

// newFleetSource feeds a new fleet model from client. With a cohort it
// also follows that cohort (see useCohort).
func newFleetSource(sys *System, client *upload.Client, stale time.Duration, cohort string, members []string) *fleetSource {
	s := &fleetSource{
		client:     client,
		topics:     client.Topics(),
		fleet:      fleet.NewFleet(fleet.FleetOptions{Now: sys.Now, Stale: stale}),
		now:        sys.Now,
		stderr:     sys.Stderr,
		badDesired: make(map[string]bool),
	}
	if cohort != "" {
		s.useCohort(cohort, members)
	}
	return s
}

// useCohort makes the source look at cohort: members lists its devices,
// when known; otherwise they are inferred from reports.
func (s *fleetSource) useCohort(cohort string, members []string) {
	s.cohort = cohort
	s.infer = len(members) == 0
	for _, id := range members {
		s.fleet.SetCohort(id, cohort)
	}
}

// desiredFilters are the topic filters of every desired manifest.
func (s *fleetSource) desiredFilters() []string {
	return []string{s.topics.Fleet(), s.topics.CohortsFilter(), s.topics.DevicesFilter()}
}

// liveFilters are the filters a live watch subscribes to.
func (s *fleetSource) liveFilters() []string {
	return append(s.desiredFilters(), s.topics.ReportsFilter())
}

// readDesired reads every retained desired manifest into the fleet, the
// three scopes' filters in one read.
func (s *fleetSource) readDesired(ctx context.Context) error {
	return s.client.ReadRetainedEach(ctx, s.desiredFilters(), func(topic string, payload []byte) {
		s.handle(topic, payload)
	})
}

// readReports reads every retained state report into the fleet, calling
// each (when not nil) with what every message decoded to.
func (s *fleetSource) readReports(ctx context.Context, each func(report.Report, error)) error {
	return s.client.ReadRetainedAll(ctx, s.topics.ReportsFilter(), func(topic string, payload []byte) {
		r, isReport, err := s.handle(topic, payload)
		if isReport && each != nil {
			each(r, err)
		}
	})
}

// readAll reads every retained desired manifest and state report into the
// fleet: readDesired then readReports, in one read when it can. Reports
// are judged against the manifests only when the fleet is looked at,
// except for inferring a cohort's members, which needs the cohort's
// manifest before the reports: then it reads in two steps, as the order
// of one read's filters is the broker's to choose.
func (s *fleetSource) readAll(ctx context.Context) error {
	if s.infer {
		if err := s.readDesired(ctx); err != nil {
			return err
		}
		return s.readReports(ctx, nil)
	}
	return s.client.ReadRetainedEach(ctx, s.liveFilters(), func(topic string, payload []byte) {
		s.handle(topic, payload)
	})
}

// follow subscribes to the desired and report topics and feeds the fleet
// until ctx ends or the connection gives up; each (when not nil) gets what
// every report message decoded to, and tick runs after each batch of
// messages. Retained messages come first, again after a reconnect.
func (s *fleetSource) follow(ctx context.Context, each func(report.Report, error), batch func()) error {
	msgs := make(chan upload.Message, 1024)
	if err := s.client.Subscribe(ctx, s.liveFilters(), msgs); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-msgs:
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err := s.client.Err(); err != nil {
					return err
				}
				return fmt.Errorf("the subscription to %s ended", s.client.Broker())
			}
			s.one(m, each)
			// Take what else is waiting before the caller looks.
		drain:
			for range cap(msgs) {
				select {
				case m, ok := <-msgs:
					if !ok {
						break drain
					}
					s.one(m, each)
				default:
					break drain
				}
			}
			if batch != nil {
				batch()
			}
		}
	}
}

func (s *fleetSource) one(m upload.Message, each func(report.Report, error)) {
	r, isReport, err := s.handle(m.Topic, m.Payload)
	if isReport && each != nil {
		each(r, err)
	}
}

// handle applies one message: a desired manifest sets its scope's target,
// anything else is taken as a state report. isReport is false for desired
// manifests.
func (s *fleetSource) handle(topic string, payload []byte) (r report.Report, isReport bool, err error) {
	if kind, name, ok := s.topics.ParseDesired(topic); ok {
		s.desired(topic, kind, name, payload)
		return report.Report{}, false, nil
	}
	r, err = report.FromMessage(s.topics.Prefix(), topic, payload, s.now())
	if err == nil && s.infer {
		if v := s.cohortVersion(r.Package); v != "" && (r.Version == v || r.Target == v) {
			s.fleet.SetCohort(r.Device, s.cohort)
		}
	}
	s.fleet.Ingest(r, err)
	return r, true, err
}

func (s *fleetSource) desired(topic, kind, name string, payload []byte) {
	d, err := report.DecodeDesired(payload)
	if err != nil {
		s.mu.Lock()
		warned := s.badDesired[topic]
		s.badDesired[topic] = true
		s.mu.Unlock()
		if !warned {
			fmt.Fprintf(s.stderr, "warning: %s: %s (devices do not act on it: it sets no target)\n", topic, oneLineError(err))
		}
	}
	var scope fleet.Scope
	switch kind {
	case "cohort":
		scope = fleet.CohortScope(name)
		if name == s.cohort {
			s.mu.Lock()
			s.cohortWant, s.cohortSeq, s.haveCohort = d.Versions, d.Sequence, len(d.Versions) > 0
			s.mu.Unlock()
		}
	case "device":
		scope = fleet.DeviceScope(name)
	default:
		scope = fleet.FleetScope()
		s.mu.Lock()
		s.fleetWant, s.fleetSeq = d.Versions, d.Sequence
		s.mu.Unlock()
	}
	s.fleet.SetDesired(scope, d.Sequence, d.Versions)
}

// cohortVersion is the version the watched cohort's manifest gives pkg.
func (s *fleetSource) cohortVersion(pkg string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cohortWant[pkg]
}

// cohortManifest reports the watched cohort's manifest: its sequence
// number and versions, and whether there is one.
func (s *fleetSource) cohortManifest() (int64, map[string]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cohortSeq, s.cohortWant, s.haveCohort
}

// fleetManifest reports the fleet's manifest: its sequence number and
// versions, and whether there is one.
func (s *fleetSource) fleetManifest() (int64, map[string]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fleetSeq, s.fleetWant, len(s.fleetWant) > 0
}

func oneLineError(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// deviceSelection is what --device and --devices-file pick: device ids
// (a set, shown even when silent) and at most one glob pattern.
type deviceSelection struct {
	IDs     []string
	Pattern string
}

// selectDevices reads --device values (an id, or a GLOB pattern holding
// *, ? or [) and the ids of --devices-file.
func selectDevices(values []string, file string) (deviceSelection, error) {
	var sel deviceSelection
	seen := map[string]bool{}
	add := func(id, where string) error {
		if err := release.ValidateDeviceID(id); err != nil {
			return usageErrorf("%s: %v", where, err)
		}
		if !seen[id] {
			seen[id] = true
			sel.IDs = append(sel.IDs, id)
		}
		return nil
	}
	for _, v := range values {
		if strings.ContainsAny(v, "*?[\\") {
			if sel.Pattern != "" {
				return sel, usageErrorf("--device: one pattern at most (%q and %q)\nhint: device ids may be repeated, patterns may not", sel.Pattern, v)
			}
			if err := (fleet.Filter{Device: v}).Validate(); err != nil {
				return sel, usageErrorf("--device: %v", err)
			}
			sel.Pattern = v
			continue
		}
		if err := add(v, "--device"); err != nil {
			return sel, err
		}
	}
	if file != "" {
		ids, err := readDevicesFile(file)
		if err != nil {
			return sel, err
		}
		for _, id := range ids {
			if err := add(id, "devices file "+file); err != nil {
				return sel, err
			}
		}
	}
	return sel, nil
}
