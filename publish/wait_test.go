package publish

import (
	"slices"
	"strings"
	"testing"

	fleetmodel "github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/release"
)

func TestWaitGateJudgesWhatWasTargeted(t *testing.T) {
	f := newFixture(t, 1000, 10)
	cohort := func(name string) Target {
		return Target{Kind: "cohort", Name: name, Topic: "cohorts/" + name + "/.u/desired"}
	}
	base := fleetmodel.Gate{MinUpdated: 0.9, MaxFailed: fleetmodel.Threshold{Count: 2}}
	withExpect := base
	withExpect.Expect = 5
	for _, tc := range []struct {
		name    string
		targets []Target
		percent float64
		base    fleetmodel.Gate
		// after the publish: the report's targets
		published []TargetResult
		cohorts   []string
		devices   []string
		expect    int
		err       string // WaitGate's or Targeted's
	}{
		{name: "fleet", targets: []Target{fleet}, base: withExpect, published: []TargetResult{{Kind: "fleet", Topic: fleet.Topic}}, expect: 5},
		{name: "cohort", targets: []Target{cohort("canary")}, base: withExpect, published: []TargetResult{{Kind: "cohort", Name: "canary"}}, cohorts: []string{"canary"}, expect: 5},
		{name: "devices", targets: []Target{deviceA, deviceB}, base: base, published: []TargetResult{{Kind: "device", Name: "a"}, {Kind: "device", Name: "b"}}, devices: []string{"a", "b"}},
		{name: "percent", percent: 10, base: base, published: []TargetResult{{Kind: "device", Name: "dev-007"}}, devices: []string{"dev-007"}},
		{name: "percent chose none", percent: 1, base: base, published: []TargetResult{}, err: "nothing to wait for"},
		{name: "two cohorts", targets: []Target{cohort("a"), cohort("b")}, base: withExpect, published: []TargetResult{{Kind: "cohort", Name: "a"}, {Kind: "cohort", Name: "b"}}, cohorts: []string{"a", "b"}, expect: 5},
		{name: "cohort and devices", targets: []Target{cohort("a"), deviceA}, base: base, err: "not both"},
		{name: "cohort and percent", targets: []Target{cohort("a")}, percent: 5, base: base, err: "not both"},
		{name: "devices and expect", targets: []Target{deviceA}, base: withExpect, err: "devices targeted are the devices that count"},
		{name: "percent and expect", percent: 5, base: withExpect, err: "devices targeted are the devices that count"},
	} {
		plan := f.plan(tc.targets...)
		plan.Percent = tc.percent
		g, err := WaitGate(plan, "", tc.base)
		if err == nil {
			g, err = Targeted(g, &Report{Targets: tc.published})
		}
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case g.Package != "main" || g.Version != "1.0.0" || g.MinUpdated != 0.9 || g.MaxFailed.Count != 2 ||
			!slices.Equal(g.Cohorts, tc.cohorts) || strings.Join(g.Devices, ",") != strings.Join(tc.devices, ",") || g.Expect != tc.expect:
			t.Errorf("%s: gate %+v", tc.name, g)
		}
	}
}

func TestWaitGatePackage(t *testing.T) {
	f := newFixture(t, 1000, 10)
	two := *f.m
	two.Components = []release.Component{{Package: "boot", Version: "2.0.0"}, {Package: "main", Version: "1.0.0"}}
	noMain := two
	noMain.Components = []release.Component{{Package: "boot", Version: "2.0.0"}, {Package: "modem", Version: "3.0.0"}}
	for _, tc := range []struct {
		m         *release.Manifest
		pkg, want string // want: "PACKAGE VERSION", or part of the error
	}{
		{m: f.m, want: "main 1.0.0"},
		{m: &two, want: "main 1.0.0"},
		{m: &two, pkg: "boot", want: "boot 2.0.0"},
		{m: &two, pkg: "modem", want: "the manifest has no component modem"},
		{m: &noMain, want: "the manifest has 2 components and none is main"},
	} {
		plan := f.plan(fleet)
		plan.Manifest = tc.m
		g, err := WaitGate(plan, tc.pkg, fleetmodel.Gate{})
		got := g.Package + " " + g.Version
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("package %q: %q, want %q", tc.pkg, got, tc.want)
		}
	}
}
