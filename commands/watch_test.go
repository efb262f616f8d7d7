package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/report"
)

var watchNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// publishDemoFleet publishes, under prefix, a fleet rolling out main
// 1.1.0 (and 1.2.0 to one device), with reports in every encoding, two
// malformed ones and a cleared one.
func publishDemoFleet(t *testing.T, env *testbroker.Broker, prefix string) {
	t.Helper()
	pub := publisher(t, env, prefix)
	pub(".u/desired", manifestPayload(t, 1000, false, map[string]string{"main": "1.1.0"}))
	pub("devices/d5/.u/desired", manifestPayload(t, 1001, true, map[string]string{"main": "1.2.0"}))
	pub("devices/d1/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.1.0", "", "json", false))
	pub("devices/d2/.u/c/main", reportPayload(t, report.Downloading, report.ReasonReady, "1.0.0", "1.1.0", "json", true))
	pub("devices/d3/.u/c/main", sdkPayload(t, 1, 5, "1.0.0", "1.1.0"))
	pub("devices/d4/.u/c/main", sdkPayload(t, 0, 11, "1.0.0", "1.1.0"))
	pub("devices/d5/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.1.0", "", "json", false))
	pub("devices/d6/.u/c/main", []byte("garbage"))
	pub("devices/d7/.u/c/main", bytes.Repeat([]byte(" "), report.MaxPayload+1))
	pub("devices/d8/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.0.0", "", "json", false))
	pub("devices/d8/.u/c/main", nil)
	pub("devices/d9/.u/c/modem", []byte(`{"state":0,"reason":0,"version":"4.0.0"}`))
}

// demoReport is a report of the demo fleet as watch prints it.
func demoReport(prefix, device, pkg string, s report.State, r report.Reason, version, target string) report.Report {
	return report.Report{Device: device, Package: pkg, State: s, Reason: r, Version: version, Target: target,
		Topic: prefix + "devices/" + device + "/.u/c/" + pkg, Received: watchNow}
}

func TestWatchOnce(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		const prefix = "once/"
		publishDemoFleet(t, env, prefix)
		all := []report.Report{
			demoReport(prefix, "d3", "main", report.Downloading, report.ReasonIntegrityCheckFailed, "1.0.0", "1.1.0"),
			demoReport(prefix, "d4", "main", report.Idle, report.ReasonAwaitingRetry, "1.0.0", "1.1.0"),
			demoReport(prefix, "d2", "main", report.Downloading, report.ReasonReady, "1.0.0", "1.1.0"),
			demoReport(prefix, "d5", "main", report.Idle, report.ReasonReady, "1.1.0", ""),
			demoReport(prefix, "d1", "main", report.Idle, report.ReasonReady, "1.1.0", ""),
			demoReport(prefix, "d9", "modem", report.Idle, report.ReasonReady, "4.0.0", ""),
		}
		for _, tc := range []struct {
			name    string
			filters fleetFilterOptions
			want    []report.Report
		}{
			{"all", fleetFilterOptions{}, all},
			{"failed", fleetFilterOptions{Failed: true}, all[:2]},
			{"version 1.2.0", fleetFilterOptions{Version: "1.2.0"}, all[3:4]},
			{"modem", fleetFilterOptions{Package: "modem"}, all[5:]},
			{"glob and state", fleetFilterOptions{Devices: []string{"d[1-4]"}, States: []string{"idle"}}, []report.Report{all[1], all[4]}},
			{"listed", fleetFilterOptions{Devices: []string{"d2", "d1", "gone"}}, []report.Report{all[2], all[4]}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sys, stdout, stderr := watchTestSystem(watchNow)
				tc.filters.Stale = fleet.DefaultStale
				opts := &watchOptions{fleetViewOptions: fleetViewOptions{Filters: tc.filters, Output: "json"}, Once: true}
				if err := watchRun(context.Background(), sys, opts, dialerFor(env.URL, prefix)); err != nil {
					t.Fatalf("watch: %v\n%s", err, stderr)
				}
				var got []report.Report
				for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
					if line == "" {
						continue
					}
					var r report.Report
					if err := json.Unmarshal([]byte(line), &r); err != nil {
						t.Fatalf("line %q: %v", line, err)
					}
					got = append(got, r)
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("reports\n%+v\nwant\n%+v", got, tc.want)
				}
				if !strings.Contains(stderr.String(), "warning: 2 malformed reports, the latest on "+prefix+"devices/d") {
					t.Errorf("stderr %q does not count the malformed reports", stderr)
				}
			})
		}
		t.Run("plain", func(t *testing.T) {
			sys, stdout, _ := watchTestSystem(watchNow)
			opts := &watchOptions{fleetViewOptions: fleetViewOptions{Filters: fleetFilterOptions{Stale: time.Minute, Failed: true}, Output: "text"}, Once: true}
			if err := watchRun(context.Background(), sys, opts, dialerFor(env.URL, prefix)); err != nil {
				t.Fatal(err)
			}
			// A header, then rollout status's columns.
			want := "DEVICE\tPACKAGE\tSTATUS\tSTATE\tREASON\tVERSION\tTARGET\tTIME\n" +
				"d3\tmain\tfailed\tdownloading\tintegrity-check-failed\t1.0.0\t1.1.0\t2026-05-01T12:00:00Z\n" +
				"d4\tmain\tretrying\tidle\tawaiting-retry\t1.0.0\t1.1.0\t2026-05-01T12:00:00Z\n"
			if stdout.String() != want {
				t.Fatalf("stdout %q, want %q", stdout, want)
			}
		})
	})
}

func TestRolloutStatus(t *testing.T) {
	t.Parallel()
	fx := newDemoFleet(t, "status/")
	sys, stdout, stderr := watchTestSystem(watchNow)
	opts := &rolloutStatusOptions{Filters: fleetFilterOptions{Package: "main", Stale: fleet.DefaultStale}, Output: "json"}
	if err := rolloutStatusRun(context.Background(), sys, opts, fx.dial); err != nil {
		t.Fatalf("status: %v\n%s", err, stderr)
	}
	var st struct {
		Time    time.Time     `json:"time"`
		Summary fleet.Summary `json:"summary"`
		Devices []struct {
			Device, Status, Target, ReportedTarget, StateName, ReasonName string
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &st); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	s := st.Summary
	if !st.Time.Equal(watchNow) || s.Devices != 5 || s.Reports != 5 || s.Done != 1 || s.Failed != 1 || s.Retrying != 1 || s.Pending != 2 ||
		s.Updated != 1 || s.Targeted != 5 || s.Targets != 2 || s.Malformed != 2 || len(s.Failures) != 1 ||
		s.Failures[0].Name != "integrity-check-failed" || s.States["idle"] != 3 || s.States["downloading"] != 2 {
		t.Errorf("summary %+v", s)
	}
	var rows []string
	for _, d := range st.Devices {
		rows = append(rows, strings.Join([]string{d.Device, d.Status, d.StateName, d.ReasonName, d.Target, d.ReportedTarget}, " "))
	}
	want := []string{
		"d3 failed downloading integrity-check-failed 1.1.0 1.1.0",
		"d4 retrying idle awaiting-retry 1.1.0 1.1.0",
		"d2 pending downloading ready 1.1.0 1.1.0",
		"d5 pending idle ready 1.2.0 ",
	}
	if !slices.Equal(rows, want) {
		t.Errorf("devices\n%q\nwant\n%q", rows, want)
	}

	// In a pipe: rows on stdout, the summary on stderr.
	sys, stdout, stderr = watchTestSystem(watchNow)
	opts.Output = "text"
	if err := rolloutStatusRun(context.Background(), sys, opts, fx.dial); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 5 || lines[0] != strings.Join(output.RowsHeader, "\t") || !strings.HasPrefix(lines[1], "d3\tmain\tfailed\t") {
		t.Errorf("stdout %q", stdout)
	}
	if !strings.Contains(stderr.String(), "5 devices · updated 1/5 (20%) to 2 targets") {
		t.Errorf("stderr %q", stderr)
	}
}

// TestRolloutStatusCohort reads a cohort's rollout both ways rollout
// status reads: members inferred from reports (the cohort's manifest is
// read before the reports) and members listed (one read of manifests and
// reports together).
func TestRolloutStatusCohort(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		const prefix = "cohortstatus/"
		publishCohortFleet(t, env, prefix, 1000, "1.1.0", "1.2.0",
			reportPayload(t, report.Idle, report.ReasonReady, "1.2.0", "", "json", false),
			reportPayload(t, report.Downloading, report.ReasonReady, "1.1.0", "1.2.0", "cbor", true),
			reportPayload(t, report.Idle, report.ReasonReady, "1.1.0", "", "json", true),
			reportPayload(t, report.Downloading, report.ReasonReady, "1.0.0", "1.1.0", "json", false))

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
		s, rows, stderr := status(fleetFilterOptions{Cohorts: []string{"canary"}})
		if s.Devices != 2 || s.Done != 1 || s.Pending != 1 || s.Target != "1.2.0" || !slices.Equal(rows, []string{"c2 pending 1.2.0"}) {
			t.Errorf("inferred cohort: summary %+v, rows %q\n%s", s, rows, stderr)
		}
		// Listed: f1 is in the cohort because the list says so, and
		// the cohort's newer manifest gives it 1.2.0.
		s, rows, stderr = status(fleetFilterOptions{Cohorts: []string{"canary"}, Devices: []string{"c1", "f1"}})
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
		// Two cohorts: the devices of either; the one without a
		// manifest adds a warning and no device.
		s, rows, stderr = status(fleetFilterOptions{Cohorts: []string{"ghost", "canary"}})
		if s.Devices != 2 || !slices.Equal(rows, []string{"c2 pending 1.2.0"}) || !strings.Contains(stderr, "warning: cohort ghost has no desired manifest") {
			t.Errorf("two cohorts: summary %+v, rows %q\n%s", s, rows, stderr)
		}
		// A cohort without a manifest: a warning, and no device.
		s, _, stderr = status(fleetFilterOptions{Cohorts: []string{"ghost"}})
		if s.Devices != 0 || !strings.Contains(stderr, "warning: cohort ghost has no desired manifest") {
			t.Errorf("unknown cohort: summary %+v, stderr %q", s, stderr)
		}
	})
}

func TestWatchStream(t *testing.T) {
	t.Parallel()
	fx := newDemoFleet(t, "stream/")
	sys, stdout, stderr := watchTestSystem(watchNow)
	opts := &watchOptions{fleetViewOptions: fleetViewOptions{Filters: fleetFilterOptions{Package: "main", States: []string{"downloading", "3"}, Stale: time.Minute}, Output: "text"}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- watchRun(ctx, sys, opts, fx.dial) }()

	// The retained reports that pass the filters come first.
	waitFor(t, "the retained reports", func() bool { return strings.Count(stdout.String(), "\n") == 2 })
	// Then live ones: an update that passes, one in another state, one of
	// another package, a malformed one.
	fx.pub("devices/d4/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.0.0", "", "cbor", true))
	fx.pub("devices/d9/.u/c/modem", reportPayload(t, report.Downloading, report.ReasonReady, "4.0.0", "4.1.0", "json", true))
	fx.pub("devices/dx/.u/c/main", []byte("{\"s\":\"\x1b[2J\"}"))
	fx.pub("devices/d2/.u/c/main", reportPayload(t, report.Updated, report.ReasonUpdated, "1.1.0", "", "json", false))
	waitFor(t, "the live update", func() bool { return strings.Contains(stdout.String(), "\td2\tmain\tupdated\t") })
	waitFor(t, "the malformed report", func() bool {
		return strings.Contains(stderr.String(), "malformed report on stream/devices/dx/.u/c/main")
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("watch ended with %v", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var devices []string
	for _, l := range lines {
		devices = append(devices, strings.Split(l, "\t")[1])
	}
	// d3 and d2 (downloading) retained, in either order; then d2 updated.
	slices.Sort(devices[:2])
	if !slices.Equal(devices, []string{"d2", "d3", "d2"}) {
		t.Fatalf("stdout:\n%s", stdout)
	}
	if strings.Contains(stderr.String(), "\x1b") {
		t.Fatalf("stderr passes an escape sequence: %q", stderr)
	}
}

func TestWatchLiveModel(t *testing.T) {
	fleet := fleet.NewFleet(fleet.FleetOptions{Now: func() time.Time { return watchNow }})
	for _, d := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		fleet.Apply(report.Report{Device: d, Package: "main", State: report.Downloading, Reason: report.ReasonReady, Version: "1.0.0", Target: "1.1.0"})
	}
	fleet.Apply(report.Report{Device: "z", Package: "main", State: report.Downloading, Reason: report.ReasonIntegrityCheckFailed, Version: "1.0.0", Target: "1.1.0"})
	clock := watchNow
	drawCost := time.Millisecond
	m := &liveModel{
		fleet:    fleet,
		renderer: output.PlainRenderer(),
		title:    func() string { return "title" },
		width:    80, height: 12,
		clock: func() time.Time { c := clock; clock = clock.Add(drawCost); return c },
	}
	if cmd := m.Init(); cmd == nil {
		t.Fatal("Init draws nothing")
	}
	_, cmd := m.Update(redrawMsg{})
	if cmd == nil || m.interval != minRedraw {
		t.Fatalf("after a quick redraw the interval is %s, want %s", m.interval, minRedraw)
	}
	lines := strings.Split(m.View(), "\n")
	failedFirst := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "z ") && strings.Contains(l, "failed") })
	if len(lines) > 12 || lines[0] != "title" || failedFirst < 0 || !strings.Contains(m.View(), "… ") {
		t.Fatalf("frame of 80x12:\n%s", m.View())
	}

	// A slow redraw slows the ticker, up to its ceiling.
	drawCost = 200 * time.Millisecond
	m.Update(redrawMsg{})
	if m.interval != 800*time.Millisecond {
		t.Fatalf("after a redraw of 200ms the interval is %s", m.interval)
	}
	drawCost = time.Hour
	m.Update(redrawMsg{})
	if m.interval != maxRedraw {
		t.Fatalf("after a redraw of an hour the interval is %s", m.interval)
	}

	// A resize is drawn at the next tick, not at once.
	before := m.View()
	m.Update(tea.WindowSizeMsg{Width: 40, Height: 8})
	if m.View() != before {
		t.Fatal("a resize redrew at once")
	}
	drawCost = time.Millisecond
	m.Update(redrawMsg{})
	for _, l := range strings.Split(m.View(), "\n") {
		if w := len([]rune(l)); w > 40 {
			t.Fatalf("line of %d cells in a 40-cell terminal: %q", w, l)
		}
	}
	if n := strings.Count(m.View(), "\n") + 1; n > 8 {
		t.Fatalf("%d lines in an 8-line terminal", n)
	}

	for key, want := range map[string]tea.Msg{"q": tea.QuitMsg{}, "ctrl+c": tea.InterruptMsg{}} {
		var k tea.KeyMsg
		if key == "q" {
			k = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")}
		} else {
			k = tea.KeyMsg{Type: tea.KeyCtrlC}
		}
		_, cmd := m.Update(k)
		if cmd == nil || cmd() != want {
			t.Errorf("key %s does not end the view with %T", key, want)
		}
	}
	_, cmd = m.Update(streamEndedMsg{errors.New("gone")})
	if cmd == nil || cmd() != (tea.QuitMsg{}) || m.err == nil {
		t.Error("the end of the stream does not end the view")
	}
}

func TestLiveResult(t *testing.T) {
	live, stopped := context.Background(), func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}()
	for _, tc := range []struct {
		name      string
		parent    context.Context
		run, strm error
		code      int
	}{
		{"q", live, nil, context.Canceled, ExitOK},
		{"ctrl-c", live, tea.ErrInterrupted, nil, ExitInterrupted},
		{"signal", stopped, tea.ErrProgramKilled, nil, ExitInterrupted},
		{"terminated", stopped, nil, nil, ExitInterrupted},
		{"crash", live, errors.Join(tea.ErrProgramKilled, tea.ErrProgramPanic), nil, ExitError},
		{"stream lost", live, nil, errors.New("connection lost"), ExitError},
	} {
		err := liveResult(tc.parent, tc.run, tc.strm)
		if got := exitCode(tc.parent, err); got != tc.code {
			t.Errorf("%s: %v gives exit %d, want %d", tc.name, err, got, tc.code)
		}
	}
}

func TestSelectDevices(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "devices.txt")
	if err := os.WriteFile(file, []byte("# canary\nd1\n\n  d2  # the second\nd1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sel, err := selectDevices([]string{"d3", "sensor-*", "d2"}, file)
	if err != nil || sel.Pattern != "sensor-*" || !slices.Equal(sel.IDs, []string{"d3", "d2", "d1"}) {
		t.Fatalf("got %+v, %v", sel, err)
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("ok\nnot/ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("# nobody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		values []string
		file   string
		msg    string
	}{
		{[]string{"a*", "b*"}, "", "one pattern at most"},
		{[]string{"[a-"}, "", "bad device pattern"},
		{[]string{"$SYS"}, "", "--device"},
		{nil, bad, "devices file " + bad},
		{nil, empty, "no device id"},
		{nil, filepath.Join(dir, "missing"), "does not exist"},
	} {
		_, err := selectDevices(tc.values, tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v %s: error %v, want %q", tc.values, tc.file, err, tc.msg)
		}
	}
}
