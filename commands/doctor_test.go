package commands

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/doctor"
	"github.com/otactl/otactl/internal/testbroker"
)

// TestDoctor: otactl doctor prints a line per check and exits 0 on a broker
// that has what otactl needs, with every --verify-broker checked; it exits
// 1 naming the check on one that does not deliver retained messages to
// wildcard subscriptions, with -o json an object of checks; a bad --need
// is a usage error.
func TestDoctor(t *testing.T) {
	t.Parallel()
	good := testbroker.Embedded(t, broker.Config{})
	e := newPubEnvAt(t, good.URL)
	out := e.must(0, "doctor", "--need", "64k")
	for _, want := range []string{"ok   connect     " + good.URL, "ok   wildcard ", "ok   size        " + good.URL + "  keeps a retained message of 64.0 KiB", "?    expiry "} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}

	bad := testbroker.Quirky(t, testbroker.Quirks{NoRetainedToWildcards: true})
	out, errs, code := e.run("", "doctor", "--verify-broker", bad.URL, "--propagation-timeout", "1s", "-o", "json")
	var rep doctor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.OK {
		t.Fatalf("exit %d, %v\nstdout: %s\nstderr: %s", code, err, out, errs)
	}
	failed := map[string]bool{}
	for _, c := range rep.Failed() {
		failed[c.Name+" "+c.Endpoint] = true
	}
	if len(failed) != 2 || !failed["wildcard "+bad.URL] || !failed["propagation "+bad.URL] ||
		!strings.Contains(errs, "doctor: 2 checks failed: wildcard on "+bad.URL) || !strings.Contains(errs, "hint: ") {
		t.Fatalf("failed %v\nstderr: %s", failed, errs)
	}
	e.must(2, "doctor", "--need", "lots")
}
