package commands

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// simAwaitIdle waits until device reports version idle on c.
func simAwaitIdle(t *testing.T, c *upload.Client, device, version string, errOut fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if r, ok := simReports(t, c)[device]; ok && r.UpdatedTo(version) && r.State == report.Idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never went idle on %s: %v\n%s", device, version, simReports(t, c), errOut)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNarrowerTargetBelowTheFleetOnSimulatedDevices: a simulated device
// follows its device topic and the fleet's and acts on the highest
// sequence. A release for the device at the fleet's very sequence (a
// rollback and a create in the same second) is refused with exit 3; forced
// through, the device ignores it; a rollback to the device gets a
// sequence above the fleet's, and the device acts on it.
func TestNarrowerTargetBelowTheFleetOnSimulatedDevices(t *testing.T) {
	b := testbroker.Embedded(t, broker.Config{})
	op := pubDial(t, b.URL)
	e := newPubEnvAt(t, b.URL)
	now := e.now.Unix()
	v101, v2, v15 := e.file("v101.bin", pubRandom(2000)), e.file("v2.bin", pubRandom(2000)), e.file("v15.bin", pubRandom(2000))

	// The simulator runs as a process of its own: runMain runs one Main
	// at a time.
	sim := startOtactlIn(t, "", []string{"XDG_CONFIG_HOME=" + t.TempDir()}, nil, "simulate", "--broker", b.URL,
		"--devices", "1", "--id-prefix", "d-", "--reboot-time", "10ms", "--seed", "3", "-o", "json")
	errOut := sim.stderr
	simAwaitIdle(t, op, "d-0001", "1.0.0", errOut)

	e.must(0, "release", "publish", e.manifest("r0.json", 1000, "", "main@1.0.1="+v101), v101)
	simAwaitIdle(t, op, "d-0001", "1.0.1", errOut)
	e.must(0, "release", "publish", e.manifest("r2.json", now+100, "", "main@2.0.0="+v2), v2)
	simAwaitIdle(t, op, "d-0001", "2.0.0", errOut)

	r1 := e.manifest("r1.json", now+100, "", "main@1.5.0="+v15)
	_, errs, c := e.run("", "release", "publish", r1, v15, "--device", "d-0001")
	if c != ExitVerification || !strings.Contains(errs, fmt.Sprintf("fleet (.u/desired) retains sequence %d", now+100)) ||
		!strings.Contains(errs, fmt.Sprintf("hint: devices act on the highest sequence of their device, cohort and fleet topics: create the release again above it ('otactl release create --sequence %d'", now+101)) {
		t.Fatalf("a release the device would ignore: exit %d\n%s", c, errs)
	}
	if _, found := pubRetained(t, op, "devices/d-0001/.u/desired"); found {
		t.Fatal("the refused release was published to the device")
	}
	// Forced through, the device ignores it: the fleet's is as high.
	e.must(0, "release", "publish", r1, v15, "--device", "d-0001", "--force")

	out1 := e.must(0, "release", "rollback", "--to", "1000", "--device", "d-0001", "-o", "json")
	var rep publish.Report
	if err := json.Unmarshal([]byte(out1), &rep); err != nil || rep.SequenceNumber != now+101 {
		t.Fatalf("rollback to the device: sequence %d, want %d, one above the fleet's (%v)\n%s", rep.SequenceNumber, now+101, err, out1)
	}
	simAwaitIdle(t, op, "d-0001", "1.0.1", errOut)
	_ = sim.cmd.Process.Signal(os.Interrupt)
	res := sim.waitWithin(t, time.Minute)
	if !strings.Contains(res.stdout, `"version":"1.0.1"`) || strings.Contains(res.stdout, "1.5.0") {
		t.Errorf("the device acted on the release the fleet's sequence hid, or its events are not there:\n%s", res.stdout)
	}
}
