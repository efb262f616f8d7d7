package fleet_test

import (
	"strings"
	"testing"

	. "github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/fleet/fleettest"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/report"
)

func TestPicker(t *testing.T) {
	f, _ := fleettest.New()
	f.SetDesired(protocol.FleetTarget(), 1, map[string]string{"main": "1.1"})
	f.SetCohort("a", "canary")
	f.SetCohort("c", "beta")
	for _, r := range []report.Report{
		fleettest.Rep("a", report.Downloading, report.ReasonIntegrityCheckFailed, "1.0", "1.1"),
		fleettest.Rep("b", report.Downloading, report.ReasonReady, "1.0", "1.1"),
		fleettest.Rep("c", report.Idle, report.ReasonReady, "1.1", ""),
	} {
		f.Apply(r)
	}
	modem := fleettest.Rep("a", report.Idle, report.ReasonReady, "4.0", "")
	modem.Package = "modem"
	f.Apply(modem)

	tests := []struct {
		name string
		flt  Filter
		want string // the devices of a, b, c (package main) and modem on a picked
	}{
		{"no filter", Filter{}, "a b c modem"},
		{"package", Filter{Package: "main"}, "a b c"},
		{"failed", Filter{FailedOnly: true}, "a"},
		{"version", Filter{Version: "1.1"}, "a b c"},
		{"state", Filter{States: []report.State{report.Idle}}, "c modem"},
		{"pattern", Filter{Device: "[bc]"}, "b c"},
		{"listed", Filter{Devices: []string{"b", "nobody"}}, "b"},
		{"cohort", Filter{Cohorts: []string{"canary"}}, "a modem"},
		{"cohorts", Filter{Cohorts: []string{"beta", "canary"}}, "a c modem"},
	}
	for _, tt := range tests {
		p := NewPicker(f, tt.flt)
		var got []string
		for _, r := range []report.Report{
			fleettest.Rep("a", 0, 0, "", ""), fleettest.Rep("b", 0, 0, "", ""), fleettest.Rep("c", 0, 0, "", ""), modem,
		} {
			if p.Picks(r) {
				if r.Package == "modem" {
					got = append(got, "modem")
				} else {
					got = append(got, r.Device)
				}
			}
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("%s: picks %q, want %q", tt.name, g, tt.want)
		}
	}
	if NewPicker(f, Filter{}).Picks(fleettest.Rep("nobody", 0, 0, "", "")) {
		t.Error("picks a report the fleet does not hold")
	}
}
