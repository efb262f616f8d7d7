package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testbroker"
)

// TestRolloutWaitCountsRetryingAsFailedE2E: after a failed download the
// Golioth SDK reports the failure, then idle, then idle awaiting retry
// (0,11) with the same target, and only that last report stays retained.
// The gate counts it as a failed attempt (exit 4 at once with
// --max-failed 0), unless told --retrying-as-pending (then the device is
// pending and the wait times out, exit 5). The payloads are the SDK's own.
func TestRolloutWaitCountsRetryingAsFailedE2E(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		env.Publish(t, "retry/devices/a/.u/c/main", sdkPayload(t, 3, 1, "1.1.0", ""))
		env.Publish(t, "retry/devices/b/.u/c/main", sdkPayload(t, 1, 0, "1.0.0", "1.1.0"))
		env.Publish(t, "retry/devices/b/.u/c/main", sdkPayload(t, 0, 11, "1.0.0", "1.1.0"))
		args := []string{"rollout", "wait", "--broker", env.URL, "--topic-prefix", "retry/", "--version", "1.1.0", "--expect", "2"}

		t0 := time.Now()
		res := runOtactl(t, "", nil, "", append(args, "--timeout", "120s")...)
		if res.code != ExitRolloutFail || time.Since(t0) > decided {
			t.Fatalf("exit %d after %s, want %d at once\n%s", res.code, time.Since(t0).Round(time.Millisecond), ExitRolloutFail, res.stderr)
		}
		if !strings.Contains(res.stderr, "b: idle, awaiting retry") {
			t.Errorf("stderr does not name the retrying device as failed:\n%s", res.stderr)
		}

		res = runOtactl(t, "", nil, "", append(args, "--timeout", "2s", "--retrying-as-pending")...)
		if res.code != ExitTimeout {
			t.Fatalf("--retrying-as-pending: exit %d, want %d\n%s", res.code, ExitTimeout, res.stderr)
		}
	})
}
