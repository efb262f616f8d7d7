package protocol

import (
	"strings"
	"testing"
)

func TestTopics(t *testing.T) {
	tp, err := NewTopics("acme/")
	if err != nil {
		t.Fatal(err)
	}
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	got := []string{
		tp.Fleet(),
		must(tp.Cohort("canary")),
		must(tp.Device("dev:01")),
		must(tp.Component("main", "1.2.3-b4")),
		must(tp.ComponentURI("/.u/c/main@1.2.3")),
		must(tp.Release(1767225600)),
		must(tp.Report("dev-1", "main")),
		must(tp.DeviceRoot("dev-1")),
		tp.ComponentsRoot(),
		tp.Probe("otactl-ci", "00ff"),
		tp.ReportsFilter(),
		tp.ComponentsFilter(),
		tp.ReleasesFilter(),
		tp.CohortsFilter(),
		tp.DevicesFilter(),
		tp.ProbesFilter(),
		tp.KeySet(),
		tp.RolloutState(),
		tp.RolloutLock(),
	}
	want := []string{
		"acme/.u/desired",
		"acme/cohorts/canary/.u/desired",
		"acme/devices/dev:01/.u/desired",
		"acme/.u/c/main@1.2.3-b4",
		"acme/.u/c/main@1.2.3",
		"acme/.u/releases/1767225600",
		"acme/devices/dev-1/.u/c/main",
		"acme/devices/dev-1/",
		"acme/.u/c/",
		"acme/.u/otactl/probe/otactl-ci/00ff",
		"acme/devices/+/.u/c/+",
		"acme/.u/c/+",
		"acme/.u/releases/+",
		"acme/cohorts/+/.u/desired",
		"acme/devices/+/.u/desired",
		"acme/.u/otactl/probe/#",
		"acme/.u/keys",
		"acme/.u/rollout/state",
		"acme/.u/rollout/lock",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("topic %d = %q, want %q", i, got[i], want[i])
		}
	}

	// User input never makes a wildcard, an extra level or an empty level.
	for _, bad := range []string{"", "+", "#", "a/b", "a+", ".hidden", "$sys", "a b", strings.Repeat("x", 129)} {
		if _, err := tp.Device(bad); err == nil {
			t.Errorf("Device(%q) accepted", bad)
		}
		if _, err := tp.Cohort(bad); err == nil {
			t.Errorf("Cohort(%q) accepted", bad)
		}
		if _, err := tp.DeviceRoot(bad); err == nil {
			t.Errorf("DeviceRoot(%q) accepted", bad)
		}
		if _, err := tp.Report(bad, "main"); err == nil {
			t.Errorf("Report(%q, main) accepted", bad)
		}
		if _, err := tp.Report("d1", bad); err == nil {
			t.Errorf("Report(d1, %q) accepted", bad)
		}
		if _, err := tp.Component(bad, "1.0"); err == nil {
			t.Errorf("Component(%q, 1.0) accepted", bad)
		}
		if _, err := tp.Component("main", bad); err == nil {
			t.Errorf("Component(main, %q) accepted", bad)
		}
	}
	// A version never holds '+', a wildcard in a topic.
	if _, err := tp.Component("main", "1.2.3+b4"); err == nil || !strings.Contains(err.Error(), "'+' is not allowed: the version is part of an MQTT topic") {
		t.Errorf("Component(main, 1.2.3+b4) = %v, want a refusal", err)
	}
	for _, bad := range []string{"/.u/c/main", ".u/c/main@1", "/.u/c/a/b@1", "/.u/c/main@1/x"} {
		if _, err := tp.ComponentURI(bad); err == nil {
			t.Errorf("ComponentURI(%q) accepted", bad)
		}
	}
	if _, err := tp.Release(0); err == nil {
		t.Error("Release(0) accepted")
	}
}

func TestNewTopicsPrefix(t *testing.T) {
	for _, ok := range []string{"", "acme/", "/", "fleet-a/prod/", "acme"} {
		if _, err := NewTopics(ok); err != nil {
			t.Errorf("NewTopics(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"a/+/", "#", "$SYS/", "a//b/", "a\x00", "a\nb/", string([]byte{0xc3})} {
		if _, err := NewTopics(bad); err == nil {
			t.Errorf("NewTopics(%q) accepted", bad)
		}
	}
}

func TestParseTopics(t *testing.T) {
	tp, _ := NewTopics("p/")
	if d, p, ok := tp.ParseReport("p/devices/dev-1/.u/c/main"); !ok || d != "dev-1" || p != "main" {
		t.Errorf("ParseReport = %q %q %v", d, p, ok)
	}
	for _, bad := range []string{"devices/dev-1/.u/c/main", "p/devices/a/b/.u/c/main", "p/devices/dev/.u/c/", "p/devices/.u/c/main"} {
		if _, _, ok := tp.ParseReport(bad); ok {
			t.Errorf("ParseReport(%q) accepted", bad)
		}
	}
	if p, v, ok := tp.ParseComponent("p/.u/c/main@1.2.3"); !ok || p != "main" || v != "1.2.3" {
		t.Errorf("ParseComponent = %q %q %v", p, v, ok)
	}
	if _, _, ok := tp.ParseComponent("p/.u/c/main"); ok {
		t.Error("ParseComponent without version accepted")
	}
	if s, ok := tp.ParseRelease("p/.u/releases/42"); !ok || s != 42 {
		t.Errorf("ParseRelease = %d %v", s, ok)
	}
	for _, bad := range []string{"p/.u/releases/042", "p/.u/releases/-1", "p/.u/releases/x", "p/.u/releases/0"} {
		if _, ok := tp.ParseRelease(bad); ok {
			t.Errorf("ParseRelease(%q) accepted", bad)
		}
	}
	for topic, want := range map[string]Target{
		"p/.u/desired":                 FleetTarget(),
		"p/cohorts/canary/.u/desired":  CohortTarget("canary"),
		"p/devices/dev-1/.u/desired":   DeviceTarget("dev-1"),
		"p/devices/a/b/.u/desired":     {},
		"p/cohorts/.u/desired":         {},
		"p/devices/dev-1/.u/c/desired": {},
		".u/desired":                   {},
		"p/.u/desired/x":               {},
		"p/cohorts/$c/.u/desired":      {},
	} {
		got, ok := tp.ParseDesired(topic)
		if got != want || ok != (want != Target{}) {
			t.Errorf("ParseDesired(%q) = %+v, %v; want %+v", topic, got, ok, want)
		}
	}
}

// TestParseReport is the one parser of state report topics, as report,
// fleet and the commands read them.
func TestParseReport(t *testing.T) {
	tests := []struct {
		prefix, topic string
		device, pkg   string
		ok            bool
	}{
		{"", "devices/d1/.u/c/main", "d1", "main", true},
		{"acme/", "acme/devices/gw:01.a_b-c/.u/c/modem-fw_2.x", "gw:01.a_b-c", "modem-fw_2.x", true},
		{"acme/", "devices/d1/.u/c/main", "", "", false},
		{"acme/", "acme/devices", "", "", false},
		{"", "devices/d1/.u/c/main@1.0.0", "", "", false},
		{"", "devices/d1/.u/c/main/x", "", "", false},
		{"", "devices/d1/x/.u/c/main", "", "", false},
		{"", "devices//.u/c/main", "", "", false},
		{"", "devices/d1/.u/c/", "", "", false},
		{"", "devices/$sys/.u/c/main", "", "", false},
		{"", "devices/.hidden/.u/c/main", "", "", false},
		{"", "devices/d1/.u/c/.main", "", "", false},
		{"", "devices/d 1/.u/c/main", "", "", false},
		{"", "devices/d1/.u/desired", "", "", false},
		{"", "devices/" + strings.Repeat("d", 128) + "/.u/c/main", strings.Repeat("d", 128), "main", true},
		{"", "devices/" + strings.Repeat("d", 129) + "/.u/c/main", "", "", false},
		{"", "devices/d1/.u/c/" + strings.Repeat("p", 64), "d1", strings.Repeat("p", 64), true},
		{"", "devices/d1/.u/c/" + strings.Repeat("p", 65), "", "", false},
		{"", ".u/c/main", "", "", false},
	}
	for _, tt := range tests {
		tp, err := NewTopics(tt.prefix)
		if err != nil {
			t.Fatal(err)
		}
		d, p, ok := tp.ParseReport(tt.topic)
		if d != tt.device || p != tt.pkg || ok != tt.ok {
			t.Errorf("ParseReport(%q, %q) = %q, %q, %v; want %q, %q, %v", tt.prefix, tt.topic, d, p, ok, tt.device, tt.pkg, tt.ok)
		}
	}
	// A watcher parses every report it receives: no allocation.
	tp, _ := NewTopics("acme/")
	if n := testing.AllocsPerRun(100, func() { _, _, _ = tp.ParseReport("acme/devices/d1/.u/c/main") }); n != 0 {
		t.Errorf("ParseReport allocates %v times", n)
	}
}

// FuzzParseTopics feeds topics as a broker would deliver them to the
// parsers: they must never panic, and whatever they accept must build back
// to the same topic.
func FuzzParseTopics(f *testing.F) {
	for _, s := range []string{"p/devices/dev-1/.u/c/main", "p/.u/c/main@1.2.3", "p/.u/releases/42", "p/cohorts/c/.u/desired", "p/devices//.u/c/", "p/.u/c/@"} {
		f.Add(s)
	}
	tp, _ := NewTopics("p/")
	f.Fuzz(func(t *testing.T, topic string) {
		if d, p, ok := tp.ParseReport(topic); ok {
			if back, err := tp.Report(d, p); err != nil || back != topic {
				t.Errorf("ParseReport(%q) = %q %q, builds back %q %v", topic, d, p, back, err)
			}
		}
		if p, v, ok := tp.ParseComponent(topic); ok {
			if back, err := tp.Component(p, v); err != nil || back != topic {
				t.Errorf("ParseComponent(%q) builds back %q %v", topic, back, err)
			}
		}
		if s, ok := tp.ParseRelease(topic); ok {
			if back, err := tp.Release(s); err != nil || back != topic {
				t.Errorf("ParseRelease(%q) builds back %q %v", topic, back, err)
			}
		}
		if tg, ok := tp.ParseDesired(topic); ok {
			var back string
			var err error
			switch tg.Kind {
			case Fleet:
				back = tp.Fleet()
			case Cohort:
				back, err = tp.Cohort(tg.Name)
			case Device:
				back, err = tp.Device(tg.Name)
			}
			if err != nil || back != topic || tg.Validate() != nil {
				t.Errorf("ParseDesired(%q) = %+v, builds back %q %v", topic, tg, back, err)
			}
		}
	})
}
