package commands

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/output"
)

// TestRetryingShownE2E: after a failed download the Golioth SDK reports
// the failure, then idle, then idle awaiting retry with the target, and
// only the last stays retained. Fed the SDK's own payloads live, the live
// view shows the device as retrying with the failure's reason; rollout
// status (the retained picture, the failure gone) shows it as retrying in
// the table and in JSON; rollout wait fails with it at once.
func TestRetryingShownE2E(t *testing.T) {
	t.Parallel()
	for _, env := range testbroker.All(t) {
		t.Run(env.Name, func(t *testing.T) {
			t.Parallel()
			const prefix = "retrying/"
			pub := func(topic string, payload []byte) { env.Publish(t, prefix+topic, payload) }
			pub(".u/desired", manifestPayload(t, 1000, true, map[string]string{"main": "1.1.0"}))
			pub("devices/ok/.u/c/main", sdkPayload(t, 1, 0, "1.0.0", "1.1.0"))

			// The live view follows the reports as they come.
			c, err := dialerFor(env.URL, prefix)(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			src := fleet.NewSource(c, fleet.SourceOptions{Stale: fleet.DefaultStale})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := src.ReadAll(ctx); err != nil {
				t.Fatal(err)
			}
			followed := make(chan error, 1)
			go func() { followed <- src.Follow(ctx, nil, nil) }()
			for _, p := range [][]byte{
				sdkPayload(t, 1, 0, "1.0.0", "1.1.0"),
				sdkPayload(t, 1, 5, "1.0.0", "1.1.0"),
				sdkPayload(t, 0, 0, "1.0.0", ""),
				sdkPayload(t, 0, 11, "1.0.0", "1.1.0"),
			} {
				pub("devices/sdk/.u/c/main", p)
			}
			var row fleet.Row
			waitFor(t, "the device retrying", func() bool {
				rows := src.Fleet().View(fleet.Filter{Devices: []string{"sdk"}}, 0).Rows
				if len(rows) == 1 {
					row = rows[0]
				}
				return row.Status == fleet.StatusRetrying
			})
			cancel()
			<-followed
			if row.LastFailure != 5 {
				t.Errorf("live row: last failure %d, want 5 (integrity)", row.LastFailure)
			}
			m := &liveModel{fleet: src.Fleet(), renderer: output.PlainRenderer(), title: func() string { return "live" },
				width: 100, height: 20, clock: time.Now}
			m.redraw()
			if line := lineWith(m.View(), "sdk "); !strings.Contains(line, "retrying") || !strings.Contains(line, "integrity-check-failed") ||
				!strings.Contains(m.View(), "retrying 1") {
				t.Errorf("live view:\n%s", m.View())
			}

			// rollout status reads only what is retained: (0,11).
			sys, stdout, stderr := watchTestSystem(watchNow)
			opts := &rolloutStatusOptions{Filters: fleetFilterOptions{Package: "main", Stale: fleet.DefaultStale}, Output: "json"}
			if err := rolloutStatusRun(context.Background(), sys, opts, dialerFor(env.URL, prefix)); err != nil {
				t.Fatalf("status: %v\n%s", err, stderr)
			}
			var st struct {
				Summary fleet.Summary
				Devices []map[string]any
			}
			if err := json.Unmarshal([]byte(stdout.String()), &st); err != nil {
				t.Fatalf("%v: %s", err, stdout)
			}
			if st.Summary.Retrying != 1 || st.Summary.Failed != 0 || len(st.Devices) != 2 ||
				st.Devices[0]["device"] != "sdk" || st.Devices[0]["status"] != "retrying" || st.Devices[0]["reasonName"] != "awaiting-retry" {
				t.Errorf("rollout status -o json: %s", stdout)
			}
			sys, stdout, _ = watchTestSystem(watchNow)
			opts.Output = "text"
			if err := rolloutStatusRun(context.Background(), sys, opts, dialerFor(env.URL, prefix)); err != nil {
				t.Fatal(err)
			}
			if line := lineWith(stdout.String(), "sdk\t"); !strings.HasPrefix(line, "sdk\tmain\tretrying\tidle\tawaiting-retry\t1.0.0\t1.1.0\t") {
				t.Errorf("rollout status in a pipe: %q", stdout)
			}

			res := runOtactl(t, "", nil, "", "rollout", "wait", "--broker", env.URL, "--topic-prefix", prefix, "--version", "1.1.0",
				"--min-updated", "50%", "--max-failed", "0", "--timeout", "2m", "-o", "json")
			if res.code != ExitRolloutFail || !strings.Contains(res.stdout, `"status":"retrying"`) ||
				!strings.Contains(res.stderr, "1 failed (1 retrying, allowed 0)") {
				t.Errorf("rollout wait: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
			}
		})
	}
}

// lineWith is the first line of s that contains sub, or "".
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
