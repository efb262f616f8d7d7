// Package fleettest builds fleets for tests: a clock that moves only when
// told, reports, and the fleets that the model's tests (package fleet) and
// the renderers' tests (package output) share.
package fleettest

import (
	"fmt"
	"strings"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/report"
)

// T0 is the time every test fleet starts at.
var T0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// Clock is a clock that moves only when told.
type Clock struct{ t time.Time }

// Now is the clock's time.
func (c *Clock) Now() time.Time { return c.t }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// New is an empty fleet on a Clock at T0, with a stale duration of five
// minutes.
func New() (*fleet.Fleet, *Clock) {
	c := &Clock{t: T0}
	return fleet.NewFleet(fleet.FleetOptions{Now: c.Now, Stale: 5 * time.Minute}), c
}

// ReportTopic is device's state report topic for pkg under the empty
// prefix; it panics on a name the protocol refuses.
func ReportTopic(device, pkg string) string {
	topic, err := protocol.Topics{}.Report(device, pkg)
	if err != nil {
		panic(err)
	}
	return topic
}

// Rep is a report of device for package main, as received now.
func Rep(device string, s report.State, r report.Reason, version, target string) report.Report {
	return report.Report{
		Device: device, Package: "main", State: s, Reason: r, Version: version, Target: target,
		Topic: ReportTopic(device, "main"),
	}
}

// Demo is a fleet in the middle of rolling out main 1.1.0: some done,
// some downloading, some failed for various reasons, some silent, a modem
// package on a few, and malformed reports.
func Demo() (*fleet.Fleet, *Clock) {
	f, c := New()
	f.SetDesired(protocol.FleetTarget(), 100, map[string]string{"main": "1.1.0", "modem": "4.1.0"})
	for i := range 12 {
		f.Apply(Rep(fmt.Sprintf("dev-%02d", i), report.Idle, report.ReasonReady, "1.1.0", ""))
	}
	c.Advance(time.Minute)
	f.Apply(Rep("dev-20", report.Downloading, report.ReasonIntegrityCheckFailed, "1.0.0", "1.1.0"))
	f.Apply(Rep("dev-21", report.Downloading, report.ReasonIOError, "1.0.0", "1.1.0"))
	f.Apply(Rep("dev-22", report.Downloading, report.ReasonIntegrityCheckFailed, "1.0.0", "1.1.0"))
	f.Apply(Rep("dev-23", report.Idle, report.ReasonNotEnoughFlash, "1.0.0", ""))
	for i := range 6 {
		f.Apply(Rep(fmt.Sprintf("dev-3%d", i), report.Downloading, report.ReasonReady, "1.0.0", "1.1.0"))
	}
	// As the Golioth SDK reports a failed download: the failure, idle,
	// then idle awaiting retry, all with the target.
	f.Apply(Rep("dev-40", report.Downloading, report.ReasonIntegrityCheckFailed, "1.0.0", "1.1.0"))
	f.Apply(Rep("dev-40", report.Idle, report.ReasonReady, "1.0.0", "1.1.0"))
	f.Apply(Rep("dev-40", report.Idle, report.ReasonAwaitingRetry, "1.0.0", "1.1.0"))
	f.Apply(Rep("dev-41", report.Downloaded, report.ReasonReady, "1.0.0", "1.1.0"))
	f.Apply(Rep("dev-42", 7, 42, "1.0.0", ""))
	modem := Rep("dev-00", report.Downloading, report.ReasonNotEnoughFlash, "4.0.1", "4.1.0")
	modem.Package, modem.Topic = "modem", ReportTopic("dev-00", "modem")
	f.Apply(modem)
	c.Advance(6 * time.Minute)
	f.Apply(Rep("dev-35", report.Downloaded, report.ReasonReady, "1.0.0", "1.1.0"))
	f.Apply(Rep("dev-11", report.Updated, report.ReasonUpdated, "1.1.0", ""))
	f.Ingest(report.FromMessage(protocol.Topics{}, "devices/dev-50/.u/c/main", []byte("garbage\x1b[2J"), c.Now()))
	c.Advance(30 * time.Second)
	return f, c
}

// FromLines builds a fleet from "device state reason version target"
// lines for package main; "-" is an empty version or target.
func FromLines(lines ...string) (*fleet.Fleet, *Clock) {
	f, c := New()
	for _, l := range lines {
		var d, v, tg string
		var s, r int
		fmt.Sscan(l, &d, &s, &r, &v, &tg)
		f.Apply(Rep(d, report.State(s), report.Reason(r), strings.Trim(v, "-"), strings.Trim(tg, "-")))
	}
	return f, c
}

// OddRows are rows with every kind of text JSON escapes, unknown codes,
// and times that are zero, in another zone, or with nanoseconds.
func OddRows() []fleet.Row {
	paris := time.FixedZone("CET", 3600)
	seen := func(device, version, target, cohort string, s report.State, r report.Reason, at time.Time) fleet.Row {
		return fleet.Row{
			Report: report.Report{Device: device, Package: "main", State: s, Reason: r, Version: version, Target: target,
				Topic: ReportTopic(device, "main"), Received: at},
			Seen: true, Target: target, Status: fleet.StatusPending, Cohort: cohort, LastSeen: at,
		}
	}
	rows := []fleet.Row{
		seen("d1", "<1.0&>", `"q"\`, "canary", report.Idle, 0, T0),
		seen("d2", "1.0\x1b[2J\t\n\r\b\f", "1.1", "", 9, 42, T0.Add(123456789*time.Nanosecond)),
		seen("d3", "\xff\xfe", "\u2028\u2029", "", -1, -7, T0.In(paris)),
		seen("d4", "versión-é", "v\x7f", "", report.Updated, report.ReasonUpdated, time.Time{}),
		seen("d5", "", "", "", report.Downloading, report.ReasonIntegrityCheckFailed, time.Unix(0, 1).UTC()),
		{Report: report.Report{Device: "d6", Package: "main"}, Target: "1.2", Status: fleet.StatusStale},
		{Report: report.Report{Device: "d7"}, Status: 7},
		seen("d8", "1.0", "1.1", "", report.Idle, report.ReasonAwaitingRetry, T0),
	}
	rows[4].Status = fleet.StatusFailed
	rows[7].Status, rows[7].LastFailure = fleet.StatusRetrying, report.ReasonIntegrityCheckFailed
	return rows
}

// BenchReport is device i's report as a decoder hands it over: the device
// id and package cut from a fresh topic string, fresh version strings.
func BenchReport(i int, s report.State, r report.Reason) report.Report {
	topic := ReportTopic(fmt.Sprintf("device-%06d", i), "main")
	dev, pkg, _ := protocol.Topics{}.ParseReport(topic)
	return report.Report{
		Device: dev, Package: pkg, State: s, Reason: r,
		Version: string([]byte("1.0.0")), Target: string([]byte("1.1.0")),
		Topic: topic, Received: T0,
	}
}

// BenchFleet is a fleet of n devices in every state and standing.
func BenchFleet(n int) *fleet.Fleet {
	f := fleet.NewFleet(fleet.FleetOptions{Now: func() time.Time { return T0.Add(10 * time.Minute) }})
	f.SetDesired(protocol.FleetTarget(), 1, map[string]string{"main": "1.1.0"})
	for i := range n {
		switch i % 10 {
		case 0:
			f.Apply(BenchReport(i, report.Downloading, report.ReasonIntegrityCheckFailed))
		case 1, 2:
			f.Apply(BenchReport(i, report.Downloading, report.ReasonReady))
		default:
			r := BenchReport(i, report.Idle, report.ReasonReady)
			r.Version, r.Target = "1.1.0", ""
			f.Apply(r)
		}
	}
	return f
}
