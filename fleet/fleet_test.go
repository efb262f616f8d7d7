package fleet_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/fleet/fleettest"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/report"
)

// rowKeys lists rows as "device/package:status" for compact comparison.
func rowKeys(rows []Row) []string {
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = fmt.Sprintf("%s/%s:%s", r.Report.Device, r.Report.Package, r.Status)
	}
	return keys
}

func TestFleetKeepsLatestByReceiveOrder(t *testing.T) {
	f, c := fleettest.New()
	f.Apply(fleettest.Rep("d1", report.Downloading, 0, "1.0", "1.1"))
	c.Advance(time.Second)
	f.Apply(fleettest.Rep("d1", report.Updated, report.ReasonUpdated, "1.1", ""))
	c.Advance(time.Second)
	// A stale retained copy arriving late still counts: reports carry no
	// clock, so the order of arrival is the only order there is.
	late := fleettest.Rep("d1", report.Downloading, 0, "1.0", "1.1")
	late.Received = fleettest.T0.Add(-time.Hour)
	f.Apply(late)

	v := f.View(Filter{}, 0)
	if len(v.Rows) != 1 {
		t.Fatalf("rows = %v", rowKeys(v.Rows))
	}
	got := v.Rows[0]
	if got.Report.State != report.Downloading || got.Report.Version != "1.0" || !got.Report.Received.Equal(fleettest.T0.Add(-time.Hour)) {
		t.Errorf("latest = %+v", got.Report)
	}
	if !got.LastSeen.Equal(fleettest.T0.Add(-time.Hour)) {
		t.Errorf("last seen = %v", got.LastSeen)
	}
	if f.Len() != 1 {
		t.Errorf("Len = %d", f.Len())
	}
}

func TestFleetStampsReportsWithoutTime(t *testing.T) {
	f, c := fleettest.New()
	c.Advance(42 * time.Second)
	f.Apply(fleettest.Rep("d1", report.Idle, 0, "1.0", ""))
	if r := f.View(Filter{}, 0).Rows[0]; !r.Report.Received.Equal(fleettest.T0.Add(42*time.Second)) || r.Report.Topic != "devices/d1/.u/c/main" {
		t.Errorf("report = %+v", r.Report)
	}
}

func TestFleetIngest(t *testing.T) {
	f, c := fleettest.New()
	acme, err := protocol.NewTopics("acme/")
	if err != nil {
		t.Fatal(err)
	}
	msg := func(topic, payload string) {
		f.Ingest(report.FromMessage(acme, topic, []byte(payload), c.Now()))
	}
	msg("acme/devices/d1/.u/c/main", `{"s":1,"r":0,"v":"1.0","t":"1.1"}`)
	msg("acme/devices/d1/.u/c/modem", "\xbf\x61s\x00\x61r\x00\x61v\x654.0.1\xff")
	msg("acme/devices/d2/.u/c/main", `{"state":3,"reason":1,"version":"1.1"}`)
	if got := rowKeys(f.View(Filter{}, 0).Rows); !slices.Equal(got, []string{"d1/main:pending", "d1/modem:done", "d2/main:done"}) {
		t.Fatalf("rows = %v", got)
	}

	msg("acme/devices/d1/.u/c/main", "") // cleared: forget d1's main
	if got := rowKeys(f.View(Filter{}, 0).Rows); !slices.Equal(got, []string{"d1/modem:done", "d2/main:done"}) {
		t.Fatalf("after clearing d1/main: %v", got)
	}
	msg("acme/devices/d1/.u/c/modem", "")
	msg("acme/devices/d9/.u/c/main", "") // never seen: nothing to forget
	if f.Len() != 1 {
		t.Fatalf("Len = %d after clearing d1 entirely", f.Len())
	}

	for i := range 7 {
		msg(fmt.Sprintf("acme/devices/bad%d/.u/c/main", i), "{not json")
	}
	msg("acme/devices/x/y/.u/c/main", `{"s":0}`)
	n, recent := f.MalformedCount()
	if n != 8 || len(recent) != 5 {
		t.Fatalf("malformed = %d, recent %d", n, len(recent))
	}
	if recent[0].Topic != "acme/devices/bad3/.u/c/main" || recent[4].Topic != "acme/devices/x/y/.u/c/main" ||
		!strings.Contains(recent[4].Error, "is not acme/devices/{device}/.u/c/{package}") || !recent[4].Time.Equal(fleettest.T0) {
		t.Errorf("recent = %+v", recent)
	}
	s := f.Summary(Filter{})
	if s.Malformed != 8 || len(s.RecentMalformed) != 5 || s.Devices != 1 {
		t.Errorf("summary = %+v", s)
	}
	f.Apply(report.Report{Device: "d3"}) // no package
	if n, _ := f.MalformedCount(); n != 9 {
		t.Errorf("a report without package is not counted as malformed")
	}
}

func TestFleetForget(t *testing.T) {
	f, _ := fleettest.New()
	for _, p := range []string{"main", "modem", "cfg"} {
		r := fleettest.Rep("d1", report.Idle, 0, "1", "")
		r.Package = p
		f.Apply(r)
	}
	f.Apply(fleettest.Rep("d2", report.Idle, 0, "1", ""))
	f.Forget("d1", "modem")
	if got := rowKeys(f.View(Filter{}, 0).Rows); !slices.Equal(got, []string{"d1/cfg:done", "d1/main:done", "d2/main:done"}) {
		t.Fatalf("rows = %v", got)
	}
	f.Forget("d1", "")
	if got := rowKeys(f.View(Filter{}, 0).Rows); !slices.Equal(got, []string{"d2/main:done"}) || f.Len() != 1 {
		t.Fatalf("rows = %v", got)
	}
}

func TestFleetTargets(t *testing.T) {
	type desired struct {
		scope protocol.Target
		seq   int64
		comps map[string]string
	}
	main := func(v string) map[string]string { return map[string]string{"main": v} }
	tests := []struct {
		name    string
		report  report.Report
		cohort  string
		desired []desired
		want    string
	}{
		{"no target anywhere", fleettest.Rep("d1", report.Idle, 0, "1.0", ""), "", nil, ""},
		{"fleet desired", fleettest.Rep("d1", report.Idle, 0, "1.0", ""), "", []desired{{protocol.FleetTarget(), 10, main("1.1")}}, "1.1"},
		{"own target first while not reached", fleettest.Rep("d1", report.Downloading, 0, "1.0", "1.1"), "",
			[]desired{{protocol.FleetTarget(), 10, main("1.2")}}, "1.1"},
		{"own target reached: desired", fleettest.Rep("d1", report.Idle, 0, "1.1", "1.1"), "",
			[]desired{{protocol.FleetTarget(), 10, main("1.2")}}, "1.2"},
		{"own target reached, nothing desired", fleettest.Rep("d1", report.Idle, 0, "1.1", "1.1"), "", nil, "1.1"},
		{"device manifest with a higher sequence", fleettest.Rep("d1", report.Idle, 0, "1.0", ""), "",
			[]desired{{protocol.FleetTarget(), 10, main("1.1")}, {protocol.DeviceTarget("d1"), 11, main("1.0-dbg")}}, "1.0-dbg"},
		{"fleet manifest with a higher sequence wins over the device's", fleettest.Rep("d1", report.Idle, 0, "1.0", ""), "",
			[]desired{{protocol.FleetTarget(), 12, main("1.1")}, {protocol.DeviceTarget("d1"), 11, main("1.0-dbg")}}, "1.1"},
		{"another device's manifest does not count", fleettest.Rep("d1", report.Idle, 0, "1.0", ""), "",
			[]desired{{protocol.FleetTarget(), 10, main("1.1")}, {protocol.DeviceTarget("d2"), 11, main("9")}}, "1.1"},
		{"cohort manifest when membership is known", fleettest.Rep("d1", report.Idle, 0, "1.0", ""), "canary",
			[]desired{{protocol.FleetTarget(), 10, main("1.1")}, {protocol.CohortTarget("canary"), 11, main("1.2-rc1")}}, "1.2-rc1"},
		{"cohort manifest ignored without membership", fleettest.Rep("d1", report.Idle, 0, "1.0", ""), "",
			[]desired{{protocol.FleetTarget(), 10, main("1.1")}, {protocol.CohortTarget("canary"), 11, main("1.2-rc1")}}, "1.1"},
		{"equal sequences: device over cohort over fleet", fleettest.Rep("d1", report.Idle, 0, "1.0", ""), "canary",
			[]desired{{protocol.FleetTarget(), 10, main("f")}, {protocol.CohortTarget("canary"), 10, main("c")}, {protocol.DeviceTarget("d1"), 10, main("d")}}, "d"},
		{"equal sequences: cohort over fleet", fleettest.Rep("d1", report.Idle, 0, "1.0", ""), "canary",
			[]desired{{protocol.FleetTarget(), 10, main("f")}, {protocol.CohortTarget("canary"), 10, main("c")}}, "c"},
		{"winning manifest without the package", fleettest.Rep("d1", report.Idle, 0, "1.0", ""), "",
			[]desired{{protocol.FleetTarget(), 10, main("1.1")}, {protocol.DeviceTarget("d1"), 11, map[string]string{"modem": "4"}}}, ""},
		{"cleared manifest no longer counts", fleettest.Rep("d1", report.Idle, 0, "1.0", ""), "",
			[]desired{{protocol.FleetTarget(), 10, main("1.1")}, {protocol.DeviceTarget("d1"), 11, main("x")}, {protocol.DeviceTarget("d1"), 0, nil}}, "1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := fleettest.New()
			f.SetCohort("d1", tt.cohort)
			for _, d := range tt.desired {
				f.SetDesired(d.scope, d.seq, d.comps)
			}
			f.Apply(tt.report)
			rows := f.View(Filter{}, 0).Rows
			if len(rows) != 1 || rows[0].Target != tt.want {
				t.Fatalf("target = %q, want %q", rows[0].Target, tt.want)
			}
			if rows[0].Cohort != tt.cohort {
				t.Errorf("cohort = %q", rows[0].Cohort)
			}
		})
	}
}

func TestCohorts(t *testing.T) {
	f, _ := fleettest.New()
	f.SetCohort("d2", "canary")
	f.SetCohort("d1", "canary")
	f.SetCohort("d3", "canary")
	f.SetCohort("d3", "beta")
	f.SetCohort("d2", "")
	if got := f.CohortMembers("canary"); !slices.Equal(got, []string{"d1"}) {
		t.Errorf("canary = %v", got)
	}
	if got := f.CohortMembers("beta"); !slices.Equal(got, []string{"d3"}) {
		t.Errorf("beta = %v", got)
	}
	if got := f.CohortMembers("none"); len(got) != 0 {
		t.Errorf("none = %v", got)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		r      report.Report
		target string
		want   RowStatus
	}{
		{"updated to target", fleettest.Rep("d", report.Updated, report.ReasonUpdated, "1.1", ""), "1.1", StatusDone},
		{"idle on target", fleettest.Rep("d", report.Idle, 0, "1.1", ""), "1.1", StatusDone},
		{"idle on the old version", fleettest.Rep("d", report.Idle, 0, "1.0", ""), "1.1", StatusPending},
		{"downloading", fleettest.Rep("d", report.Downloading, 0, "1.0", "1.1"), "1.1", StatusPending},
		{"updating, about to reboot", fleettest.Rep("d", report.Updated, 0, "1.0", "1.1"), "1.1", StatusPending},
		{"awaiting retry", fleettest.Rep("d", report.Idle, report.ReasonAwaitingRetry, "1.0", "1.1"), "1.1", StatusRetrying},
		{"awaiting retry of another version", fleettest.Rep("d", report.Idle, report.ReasonAwaitingRetry, "1.0", "1.1"), "1.2", StatusPending},
		{"integrity failure", fleettest.Rep("d", report.Downloading, report.ReasonIntegrityCheckFailed, "1.0", "1.1"), "1.1", StatusFailed},
		{"I/O error without target", fleettest.Rep("d", report.Downloading, report.ReasonIOError, "1.0", ""), "1.1", StatusFailed},
		{"failure about another target", fleettest.Rep("d", report.Downloading, report.ReasonConnectionLost, "1.0", "1.1"), "1.2", StatusPending},
		{"unknown reason is not a failure", fleettest.Rep("d", report.Downloading, 42, "1.0", "1.1"), "1.1", StatusPending},
		{"unknown state", fleettest.Rep("d", 9, 0, "1.1", ""), "1.1", StatusPending},
		{"no target, idle", fleettest.Rep("d", report.Idle, 0, "1.0", ""), "", StatusDone},
		{"no target, just updated", fleettest.Rep("d", report.Updated, report.ReasonUpdated, "1.0", ""), "", StatusDone},
		{"no target, downloading", fleettest.Rep("d", report.Downloading, 0, "1.0", ""), "", StatusPending},
		{"no target, awaiting retry", fleettest.Rep("d", report.Idle, report.ReasonAwaitingRetry, "1.0", ""), "", StatusPending},
		{"no target, failed", fleettest.Rep("d", report.Idle, report.ReasonNotEnoughFlash, "1.0", ""), "", StatusFailed},
		{"updated wins over an old failure", fleettest.Rep("d", report.Idle, report.ReasonConnectionLost, "1.1", "1.2"), "1.1", StatusDone},
	}
	for _, tt := range tests {
		if got := Classify(tt.r, tt.target); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestFleetStale(t *testing.T) {
	f, c := fleettest.New()
	f.SetDesired(protocol.FleetTarget(), 1, map[string]string{"main": "1.1"})
	f.Apply(fleettest.Rep("busy", report.Downloading, 0, "1.0", "1.1"))
	f.Apply(fleettest.Rep("done", report.Idle, 0, "1.1", ""))
	f.Apply(fleettest.Rep("broken", report.Downloading, report.ReasonIOError, "1.0", "1.1"))
	c.Advance(4*time.Minute + 59*time.Second)
	if got := rowKeys(f.View(Filter{}, 0).Rows); !slices.Equal(got, []string{"broken/main:failed", "busy/main:pending", "done/main:done"}) {
		t.Fatalf("before 5m: %v", got)
	}
	c.Advance(time.Second)
	f.Apply(fleettest.Rep("fresh", report.Downloaded, 0, "1.0", "1.1"))
	got := rowKeys(f.View(Filter{}, 0).Rows)
	if want := []string{"broken/main:failed", "busy/main:stale", "fresh/main:pending", "done/main:done"}; !slices.Equal(got, want) {
		t.Fatalf("at 5m: %v, want %v", got, want)
	}
	// Another package's report keeps the device fresh.
	modem := fleettest.Rep("busy", report.Idle, 0, "4", "")
	modem.Package = "modem"
	f.Apply(modem)
	if got := rowKeys(f.View(Filter{Package: "main"}, 0).Rows); !slices.Equal(got, []string{"broken/main:failed", "busy/main:pending", "fresh/main:pending", "done/main:done"}) {
		t.Fatalf("after a modem report: %v", got)
	}
}

func TestFleetFilters(t *testing.T) {
	f, _ := fleettest.Demo()
	tests := []struct {
		name string
		flt  Filter
		want []string
	}{
		{"package", Filter{Package: "modem"}, []string{"dev-00/modem:failed"}},
		{"failed only", Filter{FailedOnly: true},
			[]string{"dev-00/modem:failed", "dev-20/main:failed", "dev-21/main:failed", "dev-22/main:failed", "dev-23/main:failed", "dev-40/main:retrying"}},
		{"device glob", Filter{Device: "dev-4?"}, []string{"dev-40/main:retrying", "dev-41/main:stale", "dev-42/main:stale"}},
		{"states", Filter{States: []report.State{report.Downloaded, 7}},
			[]string{"dev-41/main:stale", "dev-42/main:stale", "dev-35/main:pending"}},
		{"target version", Filter{Version: "4.1.0"}, []string{"dev-00/modem:failed"}},
		{"target version nobody has", Filter{Version: "9"}, []string{}},
		{"devices with one never seen", Filter{Package: "main", Devices: []string{"dev-01", "dev-99", "dev-20", "dev-01"}},
			[]string{"dev-20/main:failed", "dev-99/main:stale", "dev-01/main:done"}},
		{"devices, package missing on one", Filter{Package: "modem", Devices: []string{"dev-00", "dev-01"}},
			[]string{"dev-00/modem:failed", "dev-01/modem:stale"}},
		{"devices and glob", Filter{Devices: []string{"dev-01", "x-1"}, Device: "dev-*"}, []string{"dev-01/main:done"}},
		{"devices and failed only skip the unseen", Filter{Devices: []string{"dev-20", "dev-99"}, FailedOnly: true},
			[]string{"dev-20/main:failed"}},
		{"combined", Filter{Package: "main", Device: "dev-2*", States: []report.State{report.Idle}}, []string{"dev-23/main:failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := f.View(tt.flt, 0)
			if got := rowKeys(v.Rows); !slices.Equal(got, tt.want) {
				t.Errorf("rows = %v\nwant %v", got, tt.want)
			}
			if v.Total != len(tt.want) {
				t.Errorf("total = %d", v.Total)
			}
		})
	}
	if err := (Filter{Device: "dev-["}).Validate(); err == nil {
		t.Error("bad pattern accepted")
	}
	if err := (Filter{Device: "dev-*"}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestFleetSortAndLimit(t *testing.T) {
	f, _ := fleettest.Demo()
	v := f.View(Filter{}, 6)
	want := []string{"dev-00/modem:failed", "dev-20/main:failed", "dev-21/main:failed", "dev-22/main:failed", "dev-23/main:failed", "dev-40/main:retrying"}
	if got := rowKeys(v.Rows); !slices.Equal(got, want) || v.Total != 26 {
		t.Errorf("rows = %v, total %d", got, v.Total)
	}
	all := f.View(Filter{}, 0).Rows
	if !slices.IsSortedFunc(all, func(a, b Row) int {
		if a.Status != b.Status {
			return int(a.Status - b.Status)
		}
		return strings.Compare(a.Report.Device+"/"+a.Report.Package, b.Report.Device+"/"+b.Report.Package)
	}) {
		t.Errorf("not sorted trouble first, then by device: %v", rowKeys(all))
	}
	if all[len(all)-1].Status != StatusDone || all[len(all)-2].Report.Device != "dev-10" {
		t.Errorf("tail = %v", rowKeys(all[len(all)-3:]))
	}
}

func TestFleetSummary(t *testing.T) {
	f, _ := fleettest.Demo()
	s := f.Summary(Filter{})
	want := Summary{
		Devices: 25, Reports: 26, States: map[string]int{"idle": 13, "downloading": 9, "downloaded": 2, "updated": 1, "7": 1},
		Targets: 2, Targeted: 26, Updated: 12, UpdatedPercent: 46.2,
		Done: 12, Pending: 1, Stale: 7, Failed: 5, Retrying: 1,
		Failures: []ReasonCount{
			{report.ReasonNotEnoughFlash, "not-enough-flash", 2},
			{report.ReasonIntegrityCheckFailed, "integrity-check-failed", 2},
			{report.ReasonIOError, "io-error", 1},
		},
		Malformed: 1,
	}
	got := s
	got.RecentMalformed = nil
	if a, b := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); a != b {
		t.Errorf("summary\n got %s\nwant %s", a, b)
	}
	if len(s.RecentMalformed) != 1 || s.RecentMalformed[0].Topic != "devices/dev-50/.u/c/main" {
		t.Errorf("recent malformed = %+v", s.RecentMalformed)
	}
	m := f.Summary(Filter{Package: "main", Devices: []string{"dev-01", "dev-20", "dev-98"}})
	if m.Target != "1.1.0" || m.Targets != 1 || m.Devices != 2 || m.Unseen != 1 || m.Targeted != 3 || m.Updated != 1 || m.UpdatedPercent != 33.3 {
		t.Errorf("filtered summary = %+v", m)
	}
	empty := NewFleet(FleetOptions{}).Summary(Filter{})
	if empty.Devices != 0 || empty.UpdatedPercent != 0 || empty.Failures == nil || empty.States == nil {
		t.Errorf("empty summary = %+v", empty)
	}
}

func TestStatusReport(t *testing.T) {
	f, _ := fleettest.Demo()
	st := f.Status(Filter{Package: "main"})
	if len(st.NotDone) != 13 || st.Summary.Done != 12 {
		t.Fatalf("not done = %v", rowKeys(st.NotDone))
	}
	for _, r := range st.NotDone {
		if r.Status == StatusDone {
			t.Errorf("done row listed: %v", r)
		}
	}
	type statusJSON struct {
		Time    time.Time
		Summary struct{ Devices, Failed int }
		Devices []map[string]any
	}
	back := readBackJSON[statusJSON](t, st)
	if back.Summary.Devices != 25 || len(back.Devices) != 13 || !back.Time.Equal(fleettest.T0.Add(7*time.Minute+30*time.Second)) {
		t.Fatalf("status JSON: %+v", back)
	}
	first := back.Devices[0]
	if first["device"] != "dev-20" || first["status"] != "failed" || first["reasonName"] != "integrity-check-failed" || first["target"] != "1.1.0" {
		t.Errorf("first device JSON = %v", first)
	}
}

func TestRowJSON(t *testing.T) {
	f, c := fleettest.New()
	f.SetDesired(protocol.FleetTarget(), 1, map[string]string{"main": "1.2"})
	f.SetCohort("d1", "canary")
	f.Apply(fleettest.Rep("d1", report.Idle, 0, "1.1", "1.1"))
	c.Advance(10 * time.Minute)
	rows := f.View(Filter{Package: "main", Devices: []string{"d1", "d2"}}, 0).Rows
	var got []string
	for _, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	want := []string{
		`{"device":"d1","package":"main","status":"stale","seen":true,"state":0,"stateName":"idle","reason":0,"reasonName":"ready","version":"1.1","target":"1.2","reportedTarget":"1.1","cohort":"canary","time":"2026-05-01T12:00:00Z","topic":"devices/d1/.u/c/main"}`,
		`{"device":"d2","package":"main","status":"stale","seen":false,"version":"","target":"1.2","reportedTarget":""}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows JSON\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

func TestFleetConcurrentUse(t *testing.T) {
	f, _ := fleettest.New()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				d := fmt.Sprintf("d%d-%d", w, i%50)
				f.Ingest(report.FromMessage(protocol.Topics{}, fleettest.ReportTopic(d, "main"), []byte(`{"s":1,"v":"1"}`), fleettest.T0))
				if i%20 == 0 {
					f.Ingest(report.FromMessage(protocol.Topics{}, fleettest.ReportTopic(d, "main"), nil, fleettest.T0))
					f.Ingest(report.Report{}, errors.New("junk"))
					f.SetDesired(protocol.FleetTarget(), int64(i), map[string]string{"main": "2"})
					f.SetCohort(d, "c")
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			v := f.View(Filter{}, 10)
			if _, err := json.Marshal(v.Rows); err != nil {
				t.Error(err)
			}
			_, _, _ = f.Desired(protocol.FleetTarget())
			_ = Evaluate(f, Gate{Version: "2"})
		}
	}()
	wg.Wait()
	if f.Len() == 0 || f.Len() > 200 {
		t.Errorf("Len = %d", f.Len())
	}
}

func TestIntern(t *testing.T) {
	f, _ := fleettest.New()
	for i := range MaxInterned + 10 {
		f.Apply(fleettest.Rep(fmt.Sprintf("d%d", i), report.Idle, 0, fmt.Sprintf("v%d", i), ""))
	}
	if InternedLen(f) > MaxInterned {
		t.Errorf("intern table grew to %d", InternedLen(f))
	}
	v := f.View(Filter{Device: fmt.Sprint("d", MaxInterned+5)}, 0)
	if len(v.Rows) != 1 || v.Rows[0].Report.Version != fmt.Sprint("v", MaxInterned+5) {
		t.Errorf("rows beyond the intern table: %+v", v.Rows)
	}
}

// TestInternRecent: names that come back in turns, more of them than the
// table of recent names holds, still come out as they went in.
func TestInternRecent(t *testing.T) {
	f, _ := fleettest.New()
	versions := []string{"1.0", "1.1", "1.0.1", "2", "1.1", "3", "1.0", "2.0", "1", "1.0"}
	for i := range 60 {
		f.Apply(fleettest.Rep(fmt.Sprintf("d%02d", i), report.Downloading, 0, versions[i%len(versions)], versions[(i+3)%len(versions)]))
	}
	for _, row := range f.View(Filter{}, 0).Rows {
		var i int
		fmt.Sscanf(row.Report.Device, "d%d", &i)
		if row.Report.Version != versions[i%len(versions)] || row.Report.Target != versions[(i+3)%len(versions)] {
			t.Errorf("%s: version %q target %q, want %q %q", row.Report.Device, row.Report.Version, row.Report.Target,
				versions[i%len(versions)], versions[(i+3)%len(versions)])
		}
	}
}

func TestFilterCohort(t *testing.T) {
	f, _ := fleettest.New()
	f.Apply(fleettest.Rep("a", report.Idle, report.ReasonReady, "1.1", ""))
	f.Apply(fleettest.Rep("b", report.Downloading, report.ReasonReady, "1.0", "1.1"))
	f.Apply(fleettest.Rep("c", report.Idle, report.ReasonReady, "1.0", ""))
	if v := f.View(Filter{Cohorts: []string{"canary"}}, 0); v.Total != 0 || len(v.Rows) != 0 {
		t.Fatalf("a cohort without members picks %d rows: %+v", v.Total, v.Rows)
	}
	f.SetCohort("a", "canary")
	f.SetCohort("b", "canary")
	f.SetCohort("gone", "canary") // a member that never reported
	f.SetCohort("c", "beta")
	v := f.View(Filter{Cohorts: []string{"canary"}, Package: "main"}, 0)
	var got []string
	for _, r := range v.Rows {
		got = append(got, fmt.Sprintf("%s %s %v %s", r.Report.Device, r.Status, r.Seen, r.Cohort))
	}
	want := []string{"b pending true canary", "gone pending false canary", "a done true canary"}
	if !slices.Equal(got, want) {
		t.Fatalf("rows\n%q\nwant\n%q", got, want)
	}
	if v.Summary.Unseen != 1 || v.Summary.Devices != 2 {
		t.Fatalf("summary %+v", v.Summary)
	}
	// Devices, when given, win over the cohort.
	if v := f.View(Filter{Cohorts: []string{"canary"}, Devices: []string{"c"}}, 0); len(v.Rows) != 1 || v.Rows[0].Report.Device != "c" {
		t.Fatalf("rows %+v", v.Rows)
	}
	// Several cohorts: the devices of any of them, each once, even when
	// a cohort is named twice; a cohort without members adds none.
	v = f.View(Filter{Cohorts: []string{"beta", "canary", "nobody", "beta"}, Package: "main"}, 0)
	got = nil
	for _, r := range v.Rows {
		got = append(got, r.Report.Device+" "+r.Cohort)
	}
	if want := []string{"b canary", "gone canary", "a canary", "c beta"}; !slices.Equal(got, want) || v.Summary.Devices != 3 || v.Summary.Unseen != 1 {
		t.Fatalf("two cohorts: rows %q, want %q; summary %+v", got, want, v.Summary)
	}
}

func TestDesired(t *testing.T) {
	f, _ := fleettest.New()
	if _, _, ok := f.Desired(protocol.FleetTarget()); ok {
		t.Fatal("an empty fleet has a desired manifest")
	}
	f.SetDesired(protocol.FleetTarget(), 10, map[string]string{"main": "1.0", "modem": "4.0"})
	f.SetDesired(protocol.CohortTarget("canary"), 11, map[string]string{"main": "1.1"})
	f.SetDesired(protocol.DeviceTarget("d1"), 12, map[string]string{"main": "2.0"})
	for _, tc := range []struct {
		scope protocol.Target
		seq   int64
		main  string
	}{{protocol.FleetTarget(), 10, "1.0"}, {protocol.CohortTarget("canary"), 11, "1.1"}, {protocol.DeviceTarget("d1"), 12, "2.0"}} {
		seq, versions, ok := f.Desired(tc.scope)
		if !ok || seq != tc.seq || versions["main"] != tc.main {
			t.Errorf("%s: %d %v %v, want %d main %s", tc.scope, seq, versions, ok, tc.seq, tc.main)
		}
		if v := f.DesiredVersion(tc.scope, "main"); v != tc.main {
			t.Errorf("%s: DesiredVersion = %q, want %q", tc.scope, v, tc.main)
		}
	}
	for _, s := range []protocol.Target{protocol.CohortTarget("beta"), protocol.DeviceTarget("d2")} {
		if _, _, ok := f.Desired(s); ok || f.DesiredVersion(s, "main") != "" {
			t.Errorf("%s: a manifest where none was set", s)
		}
	}
	if v := f.DesiredVersion(protocol.FleetTarget(), "nothing"); v != "" {
		t.Errorf("DesiredVersion of a package not in the manifest = %q", v)
	}

	// The versions are the caller's to change.
	_, versions, _ := f.Desired(protocol.FleetTarget())
	versions["main"] = "9.9"
	if v := f.DesiredVersion(protocol.FleetTarget(), "main"); v != "1.0" {
		t.Errorf("changing the returned map changed the fleet: %q", v)
	}

	// A manifest with no component (a cleared topic) removes it.
	f.SetDesired(protocol.CohortTarget("canary"), 13, nil)
	if _, _, ok := f.Desired(protocol.CohortTarget("canary")); ok {
		t.Error("a cleared cohort manifest is still there")
	}
}

// After a failed download the Golioth SDK reports the failure, then idle,
// then idle awaiting retry, all with the target: the device shows as
// retrying, with the failure's reason when the watch saw it, and the gate
// counts it as failed unless told otherwise.
func TestRetryingKeepsTheLastFailure(t *testing.T) {
	f, _ := fleettest.New()
	f.SetDesired(protocol.FleetTarget(), 100, map[string]string{"main": "1.1"})
	row := func(id string) Row {
		t.Helper()
		rows := f.View(Filter{Devices: []string{id}, Package: "main"}, 0).Rows
		if len(rows) != 1 {
			t.Fatalf("%d rows for %s", len(rows), id)
		}
		return rows[0]
	}
	steps := []struct {
		rep    report.Report
		status RowStatus
		fail   report.Reason
	}{
		{fleettest.Rep("a", report.Downloading, report.ReasonReady, "1.0", "1.1"), StatusPending, 0},
		// The failure itself is the reason; no last failure besides.
		{fleettest.Rep("a", report.Downloading, report.ReasonIntegrityCheckFailed, "1.0", "1.1"), StatusFailed, 0},
		{fleettest.Rep("a", report.Idle, report.ReasonReady, "1.0", "1.1"), StatusPending, report.ReasonIntegrityCheckFailed},
		{fleettest.Rep("a", report.Idle, report.ReasonAwaitingRetry, "1.0", "1.1"), StatusRetrying, report.ReasonIntegrityCheckFailed},
		// The retry begins: the last failure is history.
		{fleettest.Rep("a", report.Downloading, report.ReasonReady, "1.0", "1.1"), StatusPending, 0},
		{fleettest.Rep("a", report.Downloading, report.ReasonIOError, "1.0", "1.1"), StatusFailed, 0},
		// An idle report without a target between keeps it too.
		{fleettest.Rep("a", report.Idle, report.ReasonReady, "1.0", ""), StatusPending, report.ReasonIOError},
		{fleettest.Rep("a", report.Idle, report.ReasonAwaitingRetry, "1.0", "1.1"), StatusRetrying, report.ReasonIOError},
		{fleettest.Rep("a", report.Updated, report.ReasonUpdated, "1.1", ""), StatusDone, 0},
	}
	for i, s := range steps {
		f.Apply(s.rep)
		if r := row("a"); r.Status != s.status || r.LastFailure != s.fail {
			t.Errorf("after report %d (%d,%d): %s, last failure %d; want %s, %d", i, s.rep.State, s.rep.Reason, r.Status, r.LastFailure, s.status, s.fail)
		}
	}

	// Only the retained (0,11) seen: retrying, the failure unknown.
	f.Apply(fleettest.Rep("b", report.Idle, report.ReasonAwaitingRetry, "1.0", "1.1"))
	if r := row("b"); r.Status != StatusRetrying || r.LastFailure != 0 {
		t.Errorf("b: %s, last failure %d", r.Status, r.LastFailure)
	}
	if s := f.Summary(Filter{Package: "main"}); s.Retrying != 1 || s.Failed != 0 || s.Done != 1 {
		t.Errorf("summary: retrying %d, failed %d, done %d", s.Retrying, s.Failed, s.Done)
	}
	if rows := f.View(Filter{FailedOnly: true}, 0).Rows; len(rows) != 1 || rows[0].Report.Device != "b" {
		t.Errorf("--failed rows: %v", rowKeys(rows))
	}
	g := Evaluate(f, Gate{Version: "1.1", MaxFailed: Threshold{Count: 1}})
	if g.FailedCount != 1 || g.Failures[0].Status != StatusRetrying || g.Verdict != "failed" {
		t.Errorf("gate: %d failed (%v), verdict %s", g.FailedCount, rowKeys(g.Failures), g.Verdict)
	}
	g = Evaluate(f, Gate{Version: "1.1", RetryingAsPending: true})
	if g.FailedCount != 0 || len(g.Pending) != 1 || g.Pending[0].Status != StatusPending || g.Verdict != "pending" {
		t.Errorf("gate, retrying as pending: %d failed, pending %v, verdict %s", g.FailedCount, rowKeys(g.Pending), g.Verdict)
	}
}

// BenchmarkFleetApply reports the cost of applying a report to a fleet of
// 100,000 devices, and the heap each device takes.
func BenchmarkFleetApply(b *testing.B) {
	const n = 100_000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f := NewFleet(FleetOptions{Now: func() time.Time { return fleettest.T0 }})
	f.SetDesired(protocol.FleetTarget(), 1, map[string]string{"main": "1.1.0"})
	for i := range n {
		f.Apply(fleettest.BenchReport(i, report.Downloading, report.ReasonReady))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perDevice := float64(after.HeapAlloc-before.HeapAlloc) / n

	pool := make([]report.Report, 4096)
	for i := range pool {
		pool[i] = fleettest.BenchReport((i*7919)%n, report.State(i%4), report.Reason(i%12))
	}
	i := 0
	for b.Loop() {
		f.Apply(pool[i%len(pool)])
		i++
	}
	b.ReportMetric(perDevice, "bytes/device")
	runtime.KeepAlive(f)
}

// BenchmarkFleetIngest decodes an SDK report (CBOR) from its topic and
// applies it, as a watcher does for every message.
func BenchmarkFleetIngest(b *testing.B) {
	const n = 100_000
	f := fleettest.BenchFleet(n)
	type msg struct {
		topic   string
		payload []byte
	}
	pool := make([]msg, 4096)
	for i := range pool {
		r := fleettest.BenchReport((i*7919)%n, report.State(i%4), report.Reason(i%12))
		p, err := report.Encode(r, "cbor", true)
		if err != nil {
			b.Fatal(err)
		}
		pool[i] = msg{r.Topic, p}
	}
	i := 0
	for b.Loop() {
		m := pool[i%len(pool)]
		f.Ingest(report.FromMessage(protocol.Topics{}, m.topic, m.payload, fleettest.T0))
		i++
	}
}

// BenchmarkFleetView100k is the model's share of one redraw of a fleet of
// 100,000 devices: filter, summarise and sort every row, keep 50.
func BenchmarkFleetView100k(b *testing.B) {
	f := fleettest.BenchFleet(100_000)
	for b.Loop() {
		_ = f.View(Filter{}, 50)
	}
}

// BenchmarkFleetViewAll100k is watch --once's view of 100,000 devices:
// every row, all sorted.
func BenchmarkFleetViewAll100k(b *testing.B) {
	f := fleettest.BenchFleet(100_000)
	b.ReportAllocs()
	for b.Loop() {
		_ = f.View(Filter{}, 0)
	}
}

// BenchmarkFleetRowsAll100k is watch --once -o json's walk of 100,000
// devices' rows, all sorted, through Rows (no slice of rows).
func BenchmarkFleetRowsAll100k(b *testing.B) {
	f := fleettest.BenchFleet(100_000)
	b.ReportAllocs()
	for b.Loop() {
		for range f.Rows(Filter{}) {
		}
	}
}

// BenchmarkFleetFill200k applies 200,000 devices' reports to an empty
// fleet, as the bulk read of watch --once does: the device map grows and
// every report's names are interned.
func BenchmarkFleetFill200k(b *testing.B) {
	const n = 200_000
	pool := make([]report.Report, n)
	for i := range pool {
		pool[i] = fleettest.BenchReport(i, report.State(i%2), report.ReasonReady)
		pool[i].Version = "1.1.0"
	}
	b.ReportAllocs()
	for b.Loop() {
		f := NewFleet(FleetOptions{Now: func() time.Time { return fleettest.T0 }})
		for i := range pool {
			f.Apply(pool[i])
		}
	}
}
