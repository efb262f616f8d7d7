package commands

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/report"
)

// TestRolloutStatusCohort reads a cohort's rollout both ways rollout
// status reads: members inferred from reports (the cohort's manifest is
// read before the reports) and members listed (one read of manifests and
// reports together).
func TestRolloutStatusCohort(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		const prefix = "cohortstatus/"
		pub := func(topic string, payload []byte) { env.Publish(t, prefix+topic, payload) }
		pub(".u/desired", manifestPayload(t, 1000, false, map[string]string{"main": "1.1.0"}))
		pub("cohorts/canary/.u/desired", manifestPayload(t, 1001, true, map[string]string{"main": "1.2.0"}))
		pub("devices/c1/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.2.0", "", "json", false))
		pub("devices/c2/.u/c/main", reportPayload(t, report.Downloading, report.ReasonReady, "1.1.0", "1.2.0", "cbor", true))
		pub("devices/f1/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.1.0", "", "json", true))
		pub("devices/f2/.u/c/main", reportPayload(t, report.Downloading, report.ReasonReady, "1.0.0", "1.1.0", "json", false))

		status := func(filters fleetFilterOptions) (fleet.Summary, []string, string) {
			t.Helper()
			sys, stdout, stderr := watchTestSystem(watchNow)
			filters.Stale = fleet.DefaultStale
			opts := &rolloutStatusOptions{Filters: filters, Output: "json"}
			if err := rolloutStatusRun(context.Background(), sys, opts, dialerFor(env.URL, prefix)); err != nil {
				t.Fatalf("status: %v\n%s", err, stderr)
			}
			var st struct {
				Summary fleet.Summary `json:"summary"`
				Devices []struct{ Device, Status, Target string }
			}
			if err := json.Unmarshal([]byte(stdout.String()), &st); err != nil {
				t.Fatalf("%v: %s", err, stdout)
			}
			var rows []string
			for _, d := range st.Devices {
				rows = append(rows, d.Device+" "+d.Status+" "+d.Target)
			}
			return st.Summary, rows, stderr.String()
		}

		// Inferred: c1 runs and c2 heads to the cohort's 1.2.0.
		s, rows, stderr := status(fleetFilterOptions{Cohort: "canary"})
		if s.Devices != 2 || s.Done != 1 || s.Pending != 1 || s.Target != "1.2.0" || !slices.Equal(rows, []string{"c2 pending 1.2.0"}) {
			t.Errorf("inferred cohort: summary %+v, rows %q\n%s", s, rows, stderr)
		}
		// Listed: f1 is in the cohort because the list says so, and
		// the cohort's newer manifest gives it 1.2.0.
		s, rows, stderr = status(fleetFilterOptions{Cohort: "canary", Devices: []string{"c1", "f1"}})
		if s.Devices != 2 || s.Done != 1 || s.Pending != 1 || !slices.Equal(rows, []string{"f1 pending 1.2.0"}) {
			t.Errorf("listed cohort: summary %+v, rows %q\n%s", s, rows, stderr)
		}
		// The whole fleet: no cohort is known, so c1 is told the
		// fleet's 1.1.0; c2 heads to the target it reports.
		s, rows, _ = status(fleetFilterOptions{})
		want := []string{"c1 pending 1.1.0", "c2 pending 1.2.0", "f2 pending 1.1.0"}
		if s.Devices != 4 || s.Done != 1 || s.Pending != 3 || s.Targets != 2 || !slices.Equal(rows, want) {
			t.Errorf("fleet: summary %+v, rows %q", s, rows)
		}
		// A cohort without a manifest: a warning, and no device.
		s, _, stderr = status(fleetFilterOptions{Cohort: "ghost"})
		if s.Devices != 0 || !strings.Contains(stderr, "warning: cohort ghost has no desired manifest") {
			t.Errorf("unknown cohort: summary %+v, stderr %q", s, stderr)
		}
	})
}
