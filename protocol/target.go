package protocol

import (
	"errors"
	"fmt"

	"github.com/otactl/otactl/release"
)

// TargetKind is what a desired manifest applies to: the whole fleet, a
// cohort or one device (docs/protocol.md#topics). Its value is the word
// otactl prints and stores for it, in -o json output and in catalog
// entries.
type TargetKind string

// The target kinds.
const (
	Fleet  TargetKind = "fleet"
	Cohort TargetKind = "cohort"
	Device TargetKind = "device"
)

func (k TargetKind) String() string { return string(k) }

// ParseTargetKind reads a target kind from its word.
func ParseTargetKind(s string) (TargetKind, error) {
	switch k := TargetKind(s); k {
	case Fleet, Cohort, Device:
		return k, nil
	}
	return "", fmt.Errorf("target kind %q: want fleet, cohort or device", s)
}

// Target is where a desired manifest is published: the fleet, a cohort or
// a device.
type Target struct {
	Kind TargetKind
	Name string // the cohort or device; empty for the fleet
}

// FleetTarget, CohortTarget and DeviceTarget name a desired manifest's
// target.
func FleetTarget() Target             { return Target{Kind: Fleet} }
func CohortTarget(name string) Target { return Target{Kind: Cohort, Name: name} }
func DeviceTarget(id string) Target   { return Target{Kind: Device, Name: id} }

// String names the target in a few words: "fleet", "cohort canary",
// "device d1".
func (t Target) String() string {
	if t.Kind == Fleet || t.Name == "" {
		return string(t.Kind)
	}
	return string(t.Kind) + " " + t.Name
}

// Validate checks the kind, and the name with the naming rule of that
// kind: a fleet target has no name.
func (t Target) Validate() error {
	k, err := ParseTargetKind(string(t.Kind))
	if err != nil {
		return err
	}
	switch k {
	case Cohort:
		return release.ValidateCohort(t.Name)
	case Device:
		return release.ValidateDeviceID(t.Name)
	}
	if t.Name != "" {
		return errors.New("a fleet target has no name")
	}
	return nil
}
