package commands

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/report"
)

// TestPublishDeviceGlob: release publish --device GLOB targets the
// reporting devices the pattern matches, and never the fleet; a pattern
// that matches none is exit 1 with nothing published; other commands
// refuse a pattern.
func TestPublishDeviceGlob(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		for _, d := range []string{"sensor-1", "sensor-2", "gw-1"} {
			b.Publish(t, "devices/"+d+"/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.0.0", "", "json", false))
		}
		e, c := newPubEnvAt(t, b.URL), pubDial(t, b.URL)
		app := e.file("app.bin", pubRandom(500))
		m := e.manifest("r.json", 1000, "", "main@1.1.0="+app)

		out := e.must(0, "release", "publish", m, app, "--device", "sensor-*", "-o", "json")
		var rep publish.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tg := range rep.Targets {
			names = append(names, string(tg.Kind)+":"+tg.Name)
		}
		if strings.Join(names, ",") != "device:sensor-1,device:sensor-2" {
			t.Errorf("targets %v, want the two sensors", names)
		}
		for topic, want := range map[string]bool{"devices/sensor-2/.u/desired": true, "devices/gw-1/.u/desired": false, ".u/desired": false} {
			if _, found := pubRetained(t, c, topic); found != want {
				t.Errorf("%s retained: %v, want %v", topic, found, want)
			}
		}
		if out := e.must(0, "release", "publish", m, "--device", "gw-?", "--dry-run"); !strings.Contains(out, "devices gw-?: 1 of 3 reporting devices") {
			t.Errorf("dry run said:\n%s", out)
		}
		_, errs, code := e.run("", "release", "publish", m, "--device", "camera-*")
		if code != ExitError || !strings.Contains(errs, `--device "camera-*" matches none of the 3 devices that report`) {
			t.Errorf("no match: exit %d\n%s", code, errs)
		}
		for _, args := range [][]string{
			{"release", "unpublish", "--device", "sensor-*"},
			{"release", "publish", m, "--device", "sensor-[", "--dry-run"},
		} {
			if _, errs, code := e.run("", args...); code != ExitUsage {
				t.Errorf("%v: exit %d, want 2\n%s", args, code, errs)
			}
		}
	})
}
