package publish

import (
	"errors"
	"fmt"
	"slices"

	fleetmodel "github.com/otactl/otactl/fleet" // "fleet" is a test fixture of this package
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
)

// A publish that waits (release publish --wait) gates on exactly what it
// targeted: the rules of docs/watch.md, "release publish --wait".

// WaitGate is the gate of a plan that waits, checked before anything is
// sent: base's thresholds, on package pkg of the plan's manifest at its
// version (pkg "": the manifest's only component, or main among several).
// Several cohorts are one gate over their devices together. It refuses
// targets that no one gate judges: cohorts with devices; and a base expecting devices (Expect) when the targets are
// devices, which are then the devices that count. The devices a
// percentage chooses are known after the publish: see Targeted.
func WaitGate(plan *Plan, pkg string, base fleetmodel.Gate) (fleetmodel.Gate, error) {
	g := base
	c, err := waitComponent(plan.Manifest, pkg)
	if err != nil {
		return g, err
	}
	g.Package, g.Version = c.Package, c.Version
	cohorts, devices := 0, len(plan.DeviceGlobs)
	for _, t := range plan.Targets {
		switch t.Kind {
		case protocol.Cohort:
			cohorts++
			g.Cohorts = append(g.Cohorts, t.Name)
		case protocol.Device:
			devices++
		}
	}
	switch {
	case cohorts > 0 && (devices > 0 || plan.Percent > 0):
		return g, errors.New("one gate waits for a cohort or for devices, not both")
	case base.Expect > 0 && (devices > 0 || plan.Percent > 0):
		return g, errors.New("the devices targeted are the devices that count: expecting more is for the fleet or a cohort")
	}
	return g, nil
}

// waitComponent is the component of m a gate judges: pkg's, else the
// only one, else main.
func waitComponent(m *release.Manifest, pkg string) (release.Component, error) {
	if pkg == "" && len(m.Components) == 1 {
		return m.Components[0], nil
	}
	want := pkg
	if want == "" {
		want = fleetmodel.DefaultPackage
	}
	i := slices.IndexFunc(m.Components, func(c release.Component) bool { return c.Package == want })
	if i < 0 {
		if pkg == "" {
			return release.Component{}, fmt.Errorf("the manifest has %d components and none is %s: name the package the gate judges", len(m.Components), fleetmodel.DefaultPackage)
		}
		return release.Component{}, fmt.Errorf("the manifest has no component %s", pkg)
	}
	return m.Components[i], nil
}

// Targeted is gate g (from WaitGate) over exactly the targets a publish
// went to, as its report says: the devices (named, or chosen by a
// percentage), else the cohorts, else the fleet. A publish that targeted
// no device at all (a percentage that chose none) has nothing to wait
// for: an error.
func Targeted(g fleetmodel.Gate, rep *Report) (fleetmodel.Gate, error) {
	g.Devices = nil
	fleetWide := false
	for _, t := range rep.Targets {
		switch t.Kind {
		case protocol.Device:
			g.Devices = append(g.Devices, t.Name)
		case protocol.Fleet:
			fleetWide = true
		}
	}
	switch {
	case len(g.Devices) > 0:
		g.Cohorts, g.Expect = nil, 0
	case len(g.Cohorts) == 0 && !fleetWide:
		return g, errors.New("no device was targeted: nothing to wait for")
	}
	return g, nil
}
