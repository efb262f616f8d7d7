package publish

import (
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
		cohort    string
		devices   []string
		expect    int
		refused   string // WaitGate's error
		empty     bool   // Targeted's error
	}{
		{name: "fleet", targets: []Target{fleet}, base: withExpect, published: []TargetResult{{Kind: "fleet", Topic: fleet.Topic}}, expect: 5},
		{name: "cohort", targets: []Target{cohort("canary")}, base: withExpect, published: []TargetResult{{Kind: "cohort", Name: "canary"}}, cohort: "canary", expect: 5},
		{name: "devices", targets: []Target{deviceA, deviceB}, base: base, published: []TargetResult{{Kind: "device", Name: "a"}, {Kind: "device", Name: "b"}}, devices: []string{"a", "b"}},
		{name: "percent", percent: 10, base: base, published: []TargetResult{{Kind: "device", Name: "dev-007"}}, devices: []string{"dev-007"}},
		{name: "percent chose none", percent: 1, base: base, published: []TargetResult{}, empty: true},
		{name: "two cohorts", targets: []Target{cohort("a"), cohort("b")}, base: base, refused: "one cohort"},
		{name: "cohort and devices", targets: []Target{cohort("a"), deviceA}, base: base, refused: "not both"},
		{name: "cohort and percent", targets: []Target{cohort("a")}, percent: 5, base: base, refused: "not both"},
		{name: "devices and expect", targets: []Target{deviceA}, base: withExpect, refused: "devices targeted are the devices that count"},
		{name: "percent and expect", percent: 5, base: withExpect, refused: "devices targeted are the devices that count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := f.plan(tc.targets...)
			plan.Percent = tc.percent
			g, err := WaitGate(plan, "", tc.base)
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("WaitGate: %v, want %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g, err = Targeted(g, &Report{Targets: tc.published})
			if tc.empty {
				if err == nil || !strings.Contains(err.Error(), "nothing to wait for") {
					t.Fatalf("Targeted: %v, want nothing to wait for", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Package != "main" || g.Version != "1.0.0" || g.MinUpdated != 0.9 || g.MaxFailed.Count != 2 ||
				g.Cohort != tc.cohort || strings.Join(g.Devices, ",") != strings.Join(tc.devices, ",") || g.Expect != tc.expect {
				t.Errorf("gate %+v", g)
			}
		})
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
		pkg, want string
		refused   string
	}{
		{m: f.m, want: "main 1.0.0"},
		{m: &two, want: "main 1.0.0"},
		{m: &two, pkg: "boot", want: "boot 2.0.0"},
		{m: &two, pkg: "modem", refused: "no component modem"},
		{m: &noMain, refused: "2 components and none is main"},
	} {
		plan := f.plan(fleet)
		plan.Manifest = tc.m
		g, err := WaitGate(plan, tc.pkg, fleetmodel.Gate{})
		switch {
		case tc.refused != "":
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("package %q: %v, want %q", tc.pkg, err, tc.refused)
			}
		case err != nil:
			t.Errorf("package %q: %v", tc.pkg, err)
		case g.Package+" "+g.Version != tc.want:
			t.Errorf("package %q: gate on %s %s, want %s", tc.pkg, g.Package, g.Version, tc.want)
		}
	}
}
