package output

import (
	"fmt"
	"time"

	"github.com/otactl/otactl/report"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// testClock is a clock that moves only when told.
type testClock struct{ t time.Time }

func (c *testClock) Now() time.Time          { return c.t }
func (c *testClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestFleet() (*Fleet, *testClock) {
	c := &testClock{t: t0}
	return NewFleet(FleetOptions{Now: c.Now, Stale: 5 * time.Minute}), c
}

// rep is a report of device for package main as received now.
func rep(device string, s report.State, r report.Reason, version, target string) report.Report {
	return report.Report{
		Device: device, Package: "main", State: s, Reason: r, Version: version, Target: target,
		Topic: report.Topic("", device, "main"),
	}
}

// demoFleet is a fleet in the middle of rolling out main 1.1.0: some done,
// some downloading, some failed for various reasons, some silent, a modem
// package on a few, and malformed reports.
func demoFleet() (*Fleet, *testClock) {
	f, c := newTestFleet()
	f.SetDesired(FleetScope(), 100, map[string]string{"main": "1.1.0", "modem": "4.1.0"})
	for i := range 12 {
		f.Apply(rep(fmt.Sprintf("dev-%02d", i), report.Idle, report.ReasonReady, "1.1.0", ""))
	}
	c.Advance(time.Minute)
	f.Apply(rep("dev-20", report.Downloading, report.ReasonIntegrityCheckFailed, "1.0.0", "1.1.0"))
	f.Apply(rep("dev-21", report.Downloading, report.ReasonIOError, "1.0.0", "1.1.0"))
	f.Apply(rep("dev-22", report.Downloading, report.ReasonIntegrityCheckFailed, "1.0.0", "1.1.0"))
	f.Apply(rep("dev-23", report.Idle, report.ReasonNotEnoughFlash, "1.0.0", ""))
	for i := range 6 {
		f.Apply(rep(fmt.Sprintf("dev-3%d", i), report.Downloading, report.ReasonReady, "1.0.0", "1.1.0"))
	}
	f.Apply(rep("dev-40", report.Idle, report.ReasonAwaitingRetry, "1.0.0", "1.1.0"))
	f.Apply(rep("dev-41", report.Downloaded, report.ReasonReady, "1.0.0", "1.1.0"))
	f.Apply(rep("dev-42", 7, 42, "1.0.0", ""))
	modem := rep("dev-00", report.Downloading, report.ReasonNotEnoughFlash, "4.0.1", "4.1.0")
	modem.Package, modem.Topic = "modem", report.Topic("", "dev-00", "modem")
	f.Apply(modem)
	c.Advance(6 * time.Minute)
	f.Apply(rep("dev-35", report.Downloaded, report.ReasonReady, "1.0.0", "1.1.0"))
	f.Apply(rep("dev-11", report.Updated, report.ReasonUpdated, "1.1.0", ""))
	f.Ingest(report.FromMessage("", "devices/dev-50/.u/c/main", []byte("garbage\x1b[2J"), c.Now()))
	c.Advance(30 * time.Second)
	return f, c
}
