package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// SourceOptions configures a Source. The zero value is usable.
type SourceOptions struct {
	// Now is the clock of the fleet the source fills (see FleetOptions).
	Now func() time.Time
	// Stale is the fleet's stale duration (see FleetOptions).
	Stale time.Duration
	// Cohorts are the cohorts the source looks at. Members lists the
	// devices of the one cohort given; when there are none (or several
	// cohorts are given), a device joins a cohort when it reports the
	// version that cohort's desired manifest gives its package, as
	// running or target version (see docs/watch.md, "Cohorts").
	Cohorts []string
	Members []string
	// Warnings receives a line for each desired manifest that does not
	// decode, once per topic. Default: none are written.
	Warnings io.Writer
}

// Source fills a fleet from a broker: the retained desired manifests
// (which decide each device's target) and the devices' state reports,
// read once or followed live. It is the one place where MQTT messages
// become the model's terms; the fleet it fills holds what it read.
type Source struct {
	client  *upload.Client
	topics  protocol.Topics
	fleet   *Fleet
	now     func() time.Time
	cohorts []string
	infer   bool // the cohorts' members are inferred from reports

	mu         sync.Mutex
	warnings   io.Writer
	badDesired map[string]bool // desired topics already warned about
}

// NewSource feeds a new fleet from client.
func NewSource(client *upload.Client, opts SourceOptions) *Source {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Warnings == nil {
		opts.Warnings = io.Discard
	}
	s := &Source{
		client:     client,
		topics:     client.Topics(),
		fleet:      NewFleet(FleetOptions{Now: opts.Now, Stale: opts.Stale}),
		now:        opts.Now,
		cohorts:    uniqueNames(opts.Cohorts),
		infer:      len(opts.Cohorts) > 0 && (len(opts.Members) == 0 || len(uniqueNames(opts.Cohorts)) > 1),
		warnings:   opts.Warnings,
		badDesired: make(map[string]bool),
	}
	if !s.infer && len(s.cohorts) == 1 {
		for _, id := range opts.Members {
			s.fleet.SetCohort(id, s.cohorts[0])
		}
	}
	return s
}

// Fleet is the fleet the source fills.
func (s *Source) Fleet() *Fleet { return s.fleet }

// Topics is the topic scheme the source reads.
func (s *Source) Topics() protocol.Topics { return s.topics }

// ReadRetained reads the message retained on topic through the source's
// connection.
func (s *Source) ReadRetained(ctx context.Context, topic string) ([]byte, bool, error) {
	return s.client.ReadRetained(ctx, topic)
}

// Broker is the URL of the broker the source reads, without credentials.
func (s *Source) Broker() string { return s.client.Broker() }

// SetWarnings sends the warnings from now on to w (see
// SourceOptions.Warnings): a live view holds them while it owns the
// terminal.
func (s *Source) SetWarnings(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.warnings = w
}

// UnknownCohorts lists the source's cohorts whose members are inferred
// from reports but that have no desired manifest to infer them from, so
// that no device can be known to be in them, each with the topic where
// that manifest would be.
func (s *Source) UnknownCohorts() (unknown []protocol.Target) {
	if !s.infer {
		return nil
	}
	for _, c := range s.cohorts {
		if _, _, ok := s.fleet.Desired(protocol.CohortTarget(c)); !ok {
			unknown = append(unknown, protocol.CohortTarget(c))
		}
	}
	return unknown
}

// desiredFilters are the topic filters of every desired manifest.
func (s *Source) desiredFilters() []string {
	return []string{s.topics.Fleet(), s.topics.CohortsFilter(), s.topics.DevicesFilter()}
}

// liveFilters are the filters a live watch subscribes to.
func (s *Source) liveFilters() []string {
	return append(s.desiredFilters(), s.topics.ReportsFilter())
}

// ReadDesired reads every retained desired manifest into the fleet, the
// three scopes' filters in one read.
func (s *Source) ReadDesired(ctx context.Context) error {
	return s.client.ReadRetainedEach(ctx, s.desiredFilters(), func(topic string, payload []byte) {
		s.handle(topic, payload)
	})
}

// ReadReports reads every retained state report into the fleet, through
// the client's bulk read (a streaming connection where it can).
func (s *Source) ReadReports(ctx context.Context) error {
	return s.client.ReadRetainedBulk(ctx, []string{s.topics.ReportsFilter()}, func(topic string, payload []byte) {
		s.handle(topic, payload)
	})
}

// ReadAll reads every retained desired manifest and state report into the
// fleet. Reports are judged against the manifests only when the fleet is
// looked at, so one read takes both, in whatever order the broker sends
// them: the fleet's and the cohorts' desired topics and the update
// protocol's topics under the devices' root (Pdevices/+/.u/#), skipping
// what is neither a desired manifest nor a report there. One filter over
// the devices' topics, where their desired manifests and reports would
// take two, makes the broker walk a million devices' topics once instead
// of twice (with mosquitto, the second walk alone took 0.7-0.9 s:
// docs/watch.md). It stays below .u/, so that what devices keep beside
// the protocol (telemetry, logs, core dumps) is not read: Pdevices/# made
// a stock mosquitto drop reports from its queue (max_queued_messages)
// when devices kept other messages there. A broker that refuses that
// filter is read with the two. Inferring a cohort's members needs the
// cohort's manifest before the reports: then it reads ReadDesired, then
// ReadReports.
func (s *Source) ReadAll(ctx context.Context) error {
	if s.infer {
		if err := s.ReadDesired(ctx); err != nil {
			return err
		}
		return s.ReadReports(ctx)
	}
	tree := []string{s.topics.Fleet(), s.topics.CohortsFilter(), s.topics.DevicesProtocol()}
	err := s.client.ReadRetainedBulk(ctx, tree, func(topic string, payload []byte) {
		if !s.topics.InReports(topic) { // reports first: most messages are
			if _, ok := s.topics.ParseDesired(topic); !ok {
				return
			}
		}
		s.handle(topic, payload)
	})
	var refused *upload.RefusedError
	if !errors.As(err, &refused) || refused.Filter != s.topics.DevicesProtocol() {
		return err
	}
	return s.client.ReadRetainedBulk(ctx, s.liveFilters(), func(topic string, payload []byte) {
		s.handle(topic, payload)
	})
}

// Follow subscribes to the desired and report topics and feeds the fleet
// until ctx ends or the connection gives up; each (when not nil) gets what
// every report message decoded to, and batch (when not nil) runs after
// each batch of messages. Retained messages come first, again after a
// reconnect.
func (s *Source) Follow(ctx context.Context, each func(report.Report, error), batch func()) error {
	msgs := make(chan upload.Message, 1024)
	if err := s.client.Subscribe(ctx, s.liveFilters(), msgs); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			// What has arrived counts: a caller may look a last time.
			// The subscription hands over what it holds, then closes
			// msgs (upload.Client.Subscribe); a second at most.
			s.drainUntilClosed(msgs, each, time.Second)
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
			s.drain(msgs, each)
			if batch != nil {
				batch()
			}
		}
	}
}

// drain applies the messages waiting in msgs, at most as many as it
// holds, without waiting for more.
func (s *Source) drain(msgs <-chan upload.Message, each func(report.Report, error)) {
	for range cap(msgs) {
		select {
		case m, ok := <-msgs:
			if !ok {
				return
			}
			s.one(m, each)
		default:
			return
		}
	}
}

// drainUntilClosed applies the messages in msgs until it is closed, or
// for at most wait.
func (s *Source) drainUntilClosed(msgs <-chan upload.Message, each func(report.Report, error), wait time.Duration) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return
			}
			s.one(m, each)
		case <-timer.C:
			return
		}
	}
}

func (s *Source) one(m upload.Message, each func(report.Report, error)) {
	r, isReport, err := s.handle(m.Topic, m.Payload)
	if isReport && each != nil {
		each(r, err)
	}
}

// handle applies one message: a desired manifest sets its scope's target,
// anything else is taken as a state report. isReport is false for desired
// manifests.
func (s *Source) handle(topic string, payload []byte) (r report.Report, isReport bool, err error) {
	if scope, ok := s.topics.ParseDesired(topic); ok {
		s.desired(topic, scope, payload)
		return report.Report{}, false, nil
	}
	r, err = report.FromMessage(s.topics, topic, payload, s.now())
	if err == nil && s.infer {
		for _, c := range s.cohorts {
			if v := s.fleet.DesiredVersion(protocol.CohortTarget(c), r.Package); v != "" && (r.Version == v || r.Target == v) {
				s.fleet.SetCohort(r.Device, c)
				break
			}
		}
	}
	s.fleet.Ingest(r, err)
	return r, true, err
}

// desired records the desired manifest of one scope; one that does not
// decode sets no target, and is warned about once.
func (s *Source) desired(topic string, scope protocol.Target, payload []byte) {
	d, err := report.DecodeDesired(payload)
	if err != nil {
		s.mu.Lock()
		warned := s.badDesired[topic]
		s.badDesired[topic] = true
		w := s.warnings
		s.mu.Unlock()
		if !warned {
			fmt.Fprintf(w, "warning: %s: %s (devices do not act on it: it sets no target)\n", topic, text.OneLine(err.Error()))
		}
	}
	s.fleet.SetDesired(scope, d.Sequence, d.Versions)
}
