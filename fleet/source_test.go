package fleet_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/syncbuf"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

func dial(t *testing.T, url string) *upload.Client {
	t.Helper()
	c, err := upload.Connect(context.Background(), upload.Options{Broker: url, TopicPrefix: "src/", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// publisher publishes retained messages as devices and operators do.
type publisher struct {
	t *testing.T
	c *upload.Client
}

func (p publisher) retain(topic string, payload []byte) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.c.PublishRetained(ctx, topic, payload); err != nil {
		p.t.Fatalf("publish %s: %v", topic, err)
	}
}

func (p publisher) desired(topic string, seq int64, versions map[string]string) {
	p.t.Helper()
	m := &release.Manifest{SequenceNumber: seq}
	for pkg, v := range versions {
		m.Components = append(m.Components, release.Component{
			Package: pkg, Version: v, Hash: strings.Repeat("ab", 32), Size: 1234, URI: release.ComponentURI(pkg, v),
		})
	}
	m.Seal()
	b, err := release.EncodeJSON(m)
	if err != nil {
		p.t.Fatal(err)
	}
	p.retain(topic, b)
}

func (p publisher) report(device string, s report.State, r report.Reason, version, target string) {
	p.t.Helper()
	b, err := report.Encode(report.Report{State: s, Reason: r, Package: "main", Version: version, Target: target}, "json", true)
	if err != nil {
		p.t.Fatal(err)
	}
	topic, err := p.c.Topics().Report(device, "main")
	if err != nil {
		p.t.Fatal(err)
	}
	p.retain(topic, b)
}

// TestSourceReads reads the retained picture from a real broker: the
// desired manifests of the three scopes, reports, a cohort inferred from
// its manifest, and a desired manifest that does not decode, warned about
// once.
func TestSourceReads(t *testing.T) {
	ctx := context.Background()
	for _, kind := range testbroker.Kinds {
		t.Run(kind, func(t *testing.T) {
			url := testbroker.Start(t, kind).URL
			pub := publisher{t, dial(t, url)}
			topics := pub.c.Topics()
			canary, _ := topics.Cohort("canary")
			beta, _ := topics.Cohort("beta")
			d9, _ := topics.Device("d9")
			pub.desired(topics.Fleet(), 10, map[string]string{"main": "1.0"})
			pub.desired(canary, 11, map[string]string{"main": "1.1"})
			pub.desired(d9, 12, map[string]string{"main": "2.0"})
			pub.retain(beta, []byte("not a manifest"))
			pub.report("a", report.Updated, report.ReasonUpdated, "1.1", "")
			pub.report("b", report.Downloading, report.ReasonReady, "1.0", "1.1")
			pub.report("c", report.Idle, report.ReasonReady, "1.0", "")
			pub.report("d9", report.Downloading, report.ReasonIntegrityCheckFailed, "1.0", "2.0")

			var warnings syncbuf.Buffer // written from the source's goroutines
			src := NewSource(dial(t, url), SourceOptions{Cohorts: []string{"canary"}, Warnings: &warnings})
			if err := src.ReadAll(ctx); err != nil {
				t.Fatal(err)
			}
			f := src.Fleet()
			if f.Len() != 4 {
				t.Fatalf("%d devices, want 4", f.Len())
			}
			for _, tc := range []struct {
				scope    protocol.Target
				seq      int64
				versions string
			}{
				{protocol.FleetTarget(), 10, "1.0"}, {protocol.CohortTarget("canary"), 11, "1.1"}, {protocol.DeviceTarget("d9"), 12, "2.0"},
			} {
				seq, versions, ok := f.Desired(tc.scope)
				if !ok || seq != tc.seq || len(versions) != 1 || versions["main"] != tc.versions {
					t.Errorf("%s: desired %d %v %v, want %d main %s", tc.scope, seq, versions, ok, tc.seq, tc.versions)
				}
			}
			if _, _, ok := f.Desired(protocol.CohortTarget("beta")); ok {
				t.Error("a manifest that does not decode sets a target")
			}
			if got := f.CohortMembers("canary"); strings.Join(got, ",") != "a,b" {
				t.Errorf("canary members %v, want the devices reporting 1.1 (a, b)", got)
			}
			if unknown := src.UnknownCohorts(); len(unknown) != 0 {
				t.Error("canary has a manifest, yet is unknown")
			}
			if n := strings.Count(warnings.String(), beta+":"); n != 1 {
				t.Errorf("%d warnings about %s, want 1:\n%s", n, beta, warnings.String())
			}

			// Read again: the bad manifest is not warned about twice.
			if err := src.ReadDesired(ctx); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(warnings.String(), "warning:"); n != 1 {
				t.Errorf("%d warnings after a second read, want 1:\n%s", n, warnings.String())
			}

			// A cohort with no manifest cannot have members inferred.
			other := NewSource(dial(t, url), SourceOptions{Cohorts: []string{"beta"}})
			if err := other.ReadDesired(ctx); err != nil {
				t.Fatal(err)
			}
			if unknown := other.UnknownCohorts(); len(unknown) != 1 || unknown[0] != protocol.CohortTarget("beta") {
				t.Errorf("beta: UnknownCohorts = %v, want cohort beta", unknown)
			}
			listed := NewSource(dial(t, url), SourceOptions{Cohorts: []string{"beta"}, Members: []string{"c"}})
			if unknown := listed.UnknownCohorts(); len(unknown) != 0 {
				t.Error("a cohort with listed members is unknown")
			}

			// Two cohorts: each one's members are inferred from its own
			// manifest, and only the one without a manifest is unknown.
			two := NewSource(dial(t, url), SourceOptions{Cohorts: []string{"canary", "beta"}})
			if err := two.ReadAll(ctx); err != nil {
				t.Fatal(err)
			}
			if got := two.Fleet().CohortMembers("canary"); strings.Join(got, ",") != "a,b" {
				t.Errorf("two cohorts: canary members %v, want a, b", got)
			}
			if unknown := two.UnknownCohorts(); len(unknown) != 1 || unknown[0] != protocol.CohortTarget("beta") {
				t.Errorf("two cohorts: UnknownCohorts = %v, want cohort beta", unknown)
			}
			rows := two.Fleet().View(Filter{Cohorts: []string{"canary", "beta"}}, 0).Rows
			if len(rows) != 2 || rows[0].Cohort != "canary" || rows[1].Cohort != "canary" {
				t.Errorf("two cohorts: rows %+v, want a and b of canary", rows)
			}
		})
	}
}

// TestSourceReadsTheDevicesTree reads the retained picture in one
// subscription to the protocol's topics under the devices' root: a
// device's desired manifest and the reports count, a malformed report
// counts as malformed, and other retained messages under a device's
// topics are skipped (those beside .u/ are not even read). A broker that
// refuses that subscription is read with the narrower filters, to the
// same picture.
func TestSourceReadsTheDevicesTree(t *testing.T) {
	ctx := context.Background()
	brokers := map[string]string{"refusing devices/+/.u/#": testbroker.Quirky(t, testbroker.Quirks{DenyRead: func(topic string) bool { return topic == "src/devices/+/.u/#" }}).URL}
	for _, kind := range testbroker.Kinds {
		brokers[kind] = testbroker.Start(t, kind).URL
	}
	for name, url := range brokers {
		t.Run(name, func(t *testing.T) {
			pub := publisher{t, dial(t, url)}
			topics := pub.c.Topics()
			d9, _ := topics.Device("d9")
			pub.desired(topics.Fleet(), 10, map[string]string{"main": "1.0"})
			pub.desired(d9, 12, map[string]string{"main": "2.0"})
			pub.report("a", report.Updated, report.ReasonUpdated, "1.0", "")
			pub.report("d9", report.Downloading, report.ReasonReady, "1.0", "2.0")
			pub.retain("src/devices/a/telemetry", []byte("21.5"))
			pub.retain("src/devices/a/.u/c/main/log", []byte("booted"))
			pub.retain("src/devices/b/.u/c/main", []byte("not a report"))

			src := NewSource(dial(t, url), SourceOptions{})
			if err := src.ReadAll(ctx); err != nil {
				t.Fatal(err)
			}
			f := src.Fleet()
			if seq, v, ok := f.Desired(protocol.DeviceTarget("d9")); !ok || seq != 12 || v["main"] != "2.0" {
				t.Errorf("d9's desired manifest: %d %v %v, want 12 main 2.0", seq, v, ok)
			}
			if seq, _, ok := f.Desired(protocol.FleetTarget()); !ok || seq != 10 {
				t.Errorf("the fleet's desired manifest: %d %v, want 10", seq, ok)
			}
			var got []string
			for row := range f.Rows(Filter{}) {
				got = append(got, row.Report.Device+" "+row.Status.String()+" "+row.Target)
			}
			if want := "d9 pending 2.0,a done 1.0"; strings.Join(got, ",") != want {
				t.Errorf("rows %q, want %q", strings.Join(got, ","), want)
			}
			if n, recent := f.MalformedCount(); n != 1 || recent[0].Topic != "src/devices/b/.u/c/main" {
				t.Errorf("%d malformed %+v, want only src/devices/b/.u/c/main", n, recent)
			}
		})
	}
}

// readReports is a new source on url that has read the retained reports.
func readReports(t *testing.T, url string) *Source {
	t.Helper()
	src := NewSource(dial(t, url), SourceOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := src.ReadReports(ctx); err != nil {
		t.Fatal(err)
	}
	return src
}

// TestSourceAwait follows live reports until the gate decides: done when
// the last device updates, and ctx's error when it ends first.
func TestSourceAwait(t *testing.T) {
	for _, kind := range testbroker.Kinds {
		t.Run(kind, func(t *testing.T) {
			url := testbroker.Start(t, kind).URL
			pub := publisher{t, dial(t, url)}
			pub.report("a", report.Updated, report.ReasonUpdated, "1.1", "")
			pub.report("b", report.Downloading, report.ReasonReady, "1.0", "1.1")

			src := readReports(t, url)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			gate := Gate{Version: "1.1", Devices: []string{"a", "b"}}
			pending := make(chan GateResult, 100)
			done := make(chan error, 1)
			var res GateResult
			go func() {
				var err error
				res, err = src.Await(ctx, gate, func(r GateResult) { pending <- r })
				done <- err
			}()
			first := <-pending
			if first.Verdict != "pending" || first.Updated != 1 {
				t.Fatalf("first result %s, %d updated; want pending, 1", first.Verdict, first.Updated)
			}
			pub.report("b", report.Updated, report.ReasonUpdated, "1.1", "")
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if res.Verdict != "done" || res.Updated != 2 {
				t.Fatalf("verdict %s, %d updated; want done, 2", res.Verdict, res.Updated)
			}

			// Undecided until ctx ends.
			short, stop := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer stop()
			_, err := src.Await(short, Gate{Version: "9.9", Devices: []string{"a"}}, nil)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Await after its deadline = %v, want the deadline", err)
			}
		})
	}
}

// TestSourceAwaitLastLook: a report that decides the gate and arrives
// after the last look but before the deadline decides it. The deadline
// here passes before Await's first tick (250 ms), so only a last look at
// the deadline can see the report Follow takes in.
func TestSourceAwaitLastLook(t *testing.T) {
	for _, kind := range testbroker.Kinds {
		t.Run(kind, func(t *testing.T) {
			url := testbroker.Start(t, kind).URL
			pub := publisher{t, dial(t, url)}
			gate := Gate{Version: "9.0", Devices: []string{"fk1"}}
			for _, tc := range []struct {
				name    string
				state   report.State
				reason  report.Reason
				version string
				verdict string
			}{
				{"updated", report.Updated, report.ReasonUpdated, "9.0", "done"},
				{"failed", report.Downloading, report.ReasonIntegrityCheckFailed, "8.0", "failed"},
				{"still pending", report.Downloading, report.ReasonReady, "8.0", "pending"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					pub.report("fk1", report.Downloading, report.ReasonReady, "8.0", "9.0")
					src := readReports(t, url)
					// Retained now, so that Follow gets it at once on subscribing.
					pub.report("fk1", tc.state, tc.reason, tc.version, "9.0")
					short, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
					defer stop()
					res, err := src.Await(short, gate, nil)
					if tc.verdict == "pending" {
						if !errors.Is(err, context.DeadlineExceeded) || res.Verdict != "pending" || res.PendingCount != 1 {
							t.Fatalf("Await = %s (%d pending), %v; want pending, 1, the deadline", res.Verdict, res.PendingCount, err)
						}
						return
					}
					if err != nil || res.Verdict != tc.verdict {
						t.Fatalf("Await at its deadline = %q, %v; want %q, no error", res.Verdict, err, tc.verdict)
					}
				})
			}
		})
	}
}

// TestTimeout: a wait that gave up says timeout, and neither done nor
// failed, whatever a partial read looked like; the counts stay.
func TestTimeout(t *testing.T) {
	res := Timeout(GateResult{Verdict: "done", Done: true, Failed: true, TooManyFailed: true, Unreachable: true, Total: 3, Updated: 2})
	if res.Verdict != "timeout" || res.Done || res.Failed || res.TooManyFailed || res.Unreachable || res.Total != 3 || res.Updated != 2 {
		t.Fatalf("Timeout = %+v", res)
	}
}
