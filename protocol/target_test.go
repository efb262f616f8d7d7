package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTargetKind(t *testing.T) {
	for _, k := range []TargetKind{Fleet, Cohort, Device} {
		got, err := ParseTargetKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseTargetKind(%q) = %q, %v", k, got, err)
		}
	}
	for _, bad := range []string{"", "Fleet", "devices", "group"} {
		if _, err := ParseTargetKind(bad); err == nil || !strings.Contains(err.Error(), "want fleet, cohort or device") {
			t.Errorf("ParseTargetKind(%q) = %v, want a refusal", bad, err)
		}
	}
	// -o json output and catalog entries carry the kind as its word.
	b, err := json.Marshal(map[string]any{"kind": Cohort, "kinds": []TargetKind{Fleet, Device}})
	if err != nil || string(b) != `{"kind":"cohort","kinds":["fleet","device"]}` {
		t.Errorf("json = %s, %v", b, err)
	}
	var back struct{ Kind TargetKind }
	if err := json.Unmarshal([]byte(`{"Kind":"device"}`), &back); err != nil || back.Kind != Device {
		t.Errorf("unmarshal = %+v, %v", back, err)
	}
}

func TestTarget(t *testing.T) {
	for _, tt := range []struct {
		target Target
		str    string
		err    string // part of Validate's error; empty for none
	}{
		{FleetTarget(), "fleet", ""},
		{CohortTarget("canary"), "cohort canary", ""},
		{DeviceTarget("dev:01"), "device dev:01", ""},
		{Target{Kind: Fleet, Name: "x"}, "fleet", "a fleet target has no name"},
		{CohortTarget(""), "cohort", "cohort name is empty"},
		{CohortTarget("a/b"), "cohort a/b", "invalid cohort"},
		{DeviceTarget("$sys"), "device $sys", "invalid device id"},
		{DeviceTarget(strings.Repeat("d", 129)), "device " + strings.Repeat("d", 129), "at most 128"},
		{Target{Kind: "group", Name: "g"}, "group g", `target kind "group": want fleet, cohort or device`},
		{Target{}, "", `target kind "": want fleet, cohort or device`},
	} {
		if got := tt.target.String(); got != tt.str {
			t.Errorf("%+v.String() = %q, want %q", tt.target, got, tt.str)
		}
		err := tt.target.Validate()
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%+v.Validate() = %v, want %q", tt.target, err, tt.err)
		}
	}
}
