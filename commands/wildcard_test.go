package commands

import (
	"strings"
	"testing"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/testbroker"
)

// TestEmptyFleetNeedsWildcardDelivery: on a broker that keeps the devices'
// retained reports but sends none to wildcard subscriptions (RabbitMQ
// 3.10), watch --once, rollout status and release publish --percent do not
// report an empty fleet with exit 0: they exit 1 naming the broker's
// fault (--percent used to blame the devices: "no device state reports").
// On a broker that delivers them,
// an empty fleet is an empty fleet.
func TestEmptyFleetNeedsWildcardDelivery(t *testing.T) {
	t.Parallel()
	b := testbroker.Quirky(t, testbroker.Quirks{NoRetainedToWildcards: true})
	b.Publish(t, "devices/d1/.u/c/main", []byte(`{"s":0,"r":0,"v":"1.0.0"}`))
	e := newPubEnvAt(t, b.URL)
	const fault = "does not deliver retained messages to wildcard subscriptions"
	for _, args := range [][]string{
		{"watch", "--once"},
		{"watch", "--once", "-o", "json"},
		{"rollout", "status", "--package", "main"},
	} {
		out, errs, code := e.run("", args...)
		if code != 1 || out != "" || !strings.Contains(errs, fault) || !strings.Contains(errs, "hint: ") || !strings.Contains(errs, "otactl doctor") {
			t.Errorf("otactl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
		}
	}
	app := e.file("app.bin", pubRandom(1000))
	mf := e.manifest("r.json", 1000, "", "main@1.2.3="+app)
	_, errs, code := e.run("", "release", "publish", mf, app, "--percent", "50")
	if code != 1 || !strings.Contains(errs, "--percent: the broker at "+b.URL+" "+fault) {
		t.Errorf("release publish --percent: exit %d\n%s", code, errs)
	}

	ok := testbroker.Embedded(t, broker.Config{})
	good := newPubEnvAt(t, ok.URL)
	// Piped, watch --once prints its header line and no row.
	if out, errs, code := good.run("", "watch", "--once"); code != 0 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "DEVICE\t") || strings.Contains(errs, "warning") {
		t.Errorf("watch --once on an empty fleet: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
}
