package upload

import (
	"strings"
	"testing"
	"time"
)

func TestMatchTopic(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{".u/desired", ".u/desired", true},
		{".u/desired", ".u/desiredx", false},
		{".u/c/+", ".u/c/main@1.2.3", true},
		{".u/c/+", ".u/c/main@1.2.3/x", false},
		{".u/c/+", ".u/c", false},
		{"devices/+/.u/c/+", "devices/d1/.u/c/main", true},
		{"devices/+/.u/c/+", "devices/d1/.u/desired", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"+", "", true},
		{"/+", "/a", true},
		{"+/+", "/a", true},
		{"a/+/c", "a//c", true},
	}
	for _, tt := range tests {
		if got := MatchTopic(tt.filter, tt.topic); got != tt.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestCheckTopicAndFilter(t *testing.T) {
	for _, bad := range []string{"", "a/+", "a/#", "a\x00b", string([]byte{0xff}), strings.Repeat("a", 65536)} {
		if CheckTopic(bad) == nil {
			t.Errorf("CheckTopic(%q) accepted", bad)
		}
	}
	if err := CheckTopic("acme/.u/c/main@1.2.3"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "a/#/b", "a/b+", "a#", "x\x00"} {
		if CheckFilter(bad) == nil {
			t.Errorf("CheckFilter(%q) accepted", bad)
		}
	}
	for _, good := range []string{"#", "+", "a/+/b/#", "devices/+/.u/c/+"} {
		if err := CheckFilter(good); err != nil {
			t.Errorf("CheckFilter(%q): %v", good, err)
		}
	}
}

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
		tp.ReportsFilter(),
		tp.ComponentsFilter(),
		tp.ReleasesFilter(),
	}
	want := []string{
		"acme/.u/desired",
		"acme/cohorts/canary/.u/desired",
		"acme/devices/dev:01/.u/desired",
		"acme/.u/c/main@1.2.3-b4",
		"acme/.u/c/main@1.2.3",
		"acme/.u/releases/1767225600",
		"acme/devices/dev-1/.u/c/main",
		"acme/devices/+/.u/c/+",
		"acme/.u/c/+",
		"acme/.u/releases/+",
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
		if _, err := tp.Component(bad, "1.0"); err == nil {
			t.Errorf("Component(%q, 1.0) accepted", bad)
		}
		if _, err := tp.Component("main", bad); err == nil {
			t.Errorf("Component(main, %q) accepted", bad)
		}
	}
	// A version may hold '+' (semver build metadata), a topic may not.
	if _, err := tp.Component("main", "1.2.3+b4"); err == nil || !strings.Contains(err.Error(), "not allowed in an MQTT topic") {
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
	for topic, want := range map[string]string{
		"p/.u/desired":                 "fleet:",
		"p/cohorts/canary/.u/desired":  "cohort:canary",
		"p/devices/dev-1/.u/desired":   "device:dev-1",
		"p/devices/a/b/.u/desired":     "",
		"p/cohorts/.u/desired":         "",
		"p/devices/dev-1/.u/c/desired": "",
	} {
		k, n, ok := tp.ParseDesired(topic)
		got := ""
		if ok {
			got = k + ":" + n
		}
		if got != want {
			t.Errorf("ParseDesired(%q) = %q, want %q", topic, got, want)
		}
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
		if k, n, ok := tp.ParseDesired(topic); ok {
			var back string
			var err error
			switch k {
			case "fleet":
				back = tp.Fleet()
			case "cohort":
				back, err = tp.Cohort(n)
			case "device":
				back, err = tp.Device(n)
			}
			if err != nil || back != topic {
				t.Errorf("ParseDesired(%q) builds back %q %v", topic, back, err)
			}
		}
		_ = MatchTopic(topic, topic)
	})
}

func TestBrokerURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "mqtt://localhost:1883"},
		{"broker.example", "mqtt://broker.example:1883"},
		{"mqtt://h", "mqtt://h:1883"},
		{"tcp://h:1884", "mqtt://h:1884"},
		{"ssl://h", "mqtts://h:8883"},
		{"MQTTS://h", "mqtts://h:8883"},
		{"ws://h/mqtt", "ws://h:80/mqtt"},
		{"wss://h:9443/mqtt", "wss://h:9443/mqtt"},
		{"mqtt://[::1]", "mqtt://[::1]:1883"},
	}
	for _, tt := range tests {
		u, err := BrokerURL(tt.in)
		if err != nil {
			t.Errorf("BrokerURL(%q): %v", tt.in, err)
			continue
		}
		if u.String() != tt.want {
			t.Errorf("BrokerURL(%q) = %q, want %q", tt.in, u, tt.want)
		}
	}
	for _, bad := range []string{"http://h", "mqtt://", "mqtt://user:secret@h", "mqtt://h/path", "mqtt://h:x"} {
		_, err := BrokerURL(bad)
		if err == nil {
			t.Errorf("BrokerURL(%q) accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("BrokerURL(%q) error shows the password: %v", bad, err)
		}
	}
}

func TestValidateClientID(t *testing.T) {
	for _, bad := range []string{"", "+", "#", "a/b", "a b", strings.Repeat("a", 129)} {
		if ValidateClientID(bad) == nil {
			t.Errorf("ValidateClientID(%q) accepted", bad)
		}
	}
	if err := ValidateClientID("otactl-ci:01"); err != nil {
		t.Error(err)
	}
}

func TestPublishTimeoutScales(t *testing.T) {
	o := Options{Timeout: 10 * time.Second}
	small, large := o.publishTimeout(1000), o.publishTimeout(64<<20)
	if small != 10*time.Second {
		t.Errorf("publishTimeout(1000) = %s", small)
	}
	if want := 10*time.Second + 512*time.Second; large != want {
		t.Errorf("publishTimeout(64 MiB) = %s, want %s", large, want)
	}
}
