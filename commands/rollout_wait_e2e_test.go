package commands

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/report"
)

// These tests run rollout wait, the built binary, against real brokers
// (the embedded one and mosquitto), with reports published as devices
// publish them: JSON with long keys, JSON with short keys, the Golioth
// SDK's CBOR, and a malformed one. They check what it decides, and that
// it decides as soon as it can: exit 4 once the goal can no longer be
// met, exit 0 once it is met, exit 130 on a signal, each long before
// --timeout.

// decided is the bound on how long a decided gate may take to say so: far
// above what it takes (well under a second), far below --timeout.
const decided = 10 * time.Second

// gateVerdict is what rollout wait -o json prints; its rows are read
// with names of their own, and Seen, so that the counts can be checked
// against them (agree).
type gateVerdict struct {
	fleet.GateResult
	Failures []gateRow `json:"failures"`
	Pending  []gateRow `json:"pending"`
}

type gateRow struct {
	Device, Status, StateName, ReasonName, Version, Target string
	Seen                                                   bool
}

func decodeVerdict(t *testing.T, out string) gateVerdict {
	t.Helper()
	var v gateVerdict
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("verdict %q: %v", out, err)
	}
	return v
}

func devicesOf(rows []gateRow) []string {
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.Device)
	}
	return ids
}

// agree checks that the verdict's counts add up to its rows.
func (v gateVerdict) agree(t *testing.T) {
	t.Helper()
	unseen := 0
	for _, r := range v.Pending {
		if !r.Seen {
			unseen++
		}
	}
	if v.FailedCount != len(v.Failures) || v.PendingCount != len(v.Pending)+v.NotKnown ||
		v.NotSeen != unseen+v.NotKnown || v.Total != v.Updated+v.FailedCount+v.PendingCount {
		t.Errorf("counts contradict the rows: total %d = %d updated + %d failed (%d rows) + %d pending (%d rows, %d not known); notSeen %d, %d rows unseen",
			v.Total, v.Updated, v.FailedCount, len(v.Failures), v.PendingCount, len(v.Pending), v.NotKnown, v.NotSeen, unseen)
	}
}

// publishEarlyFleet publishes, under prefix, the fleet's desired manifest
// for main 1.1.0 and the reports of `updated` devices u00.. running it,
// and of `others` devices x00.. with report other (nil: none), in the
// encodings devices use.
func publishEarlyFleet(t *testing.T, env *testbroker.Broker, prefix string, updated, others int, other func(i int) []byte) {
	t.Helper()
	env.Publish(t, prefix+".u/desired", manifestPayload(t, 5000, false, map[string]string{"main": "1.1.0"}))
	for i := range updated {
		var p []byte
		switch i % 3 {
		case 0:
			p = reportPayload(t, report.Updated, report.ReasonUpdated, "1.1.0", "", "json", false)
		case 1:
			p = reportPayload(t, report.Idle, report.ReasonReady, "1.1.0", "", "json", true)
		default:
			p = sdkPayload(t, 3, 1, "1.1.0", "")
		}
		env.Publish(t, fmt.Sprintf("%sdevices/u%02d/.u/c/main", prefix, i), p)
	}
	for i := range others {
		env.Publish(t, fmt.Sprintf("%sdevices/x%02d/.u/c/main", prefix, i), other(i))
	}
}

// failedReport is an integrity failure at 1.1.0, as the SDK or a JSON
// device reports it.
func failedReport(t *testing.T, i int) []byte {
	if i%2 == 0 {
		return sdkPayload(t, 1, 5, "1.0.0", "1.1.0")
	}
	return reportPayload(t, report.Downloading, report.ReasonIntegrityCheckFailed, "1.0.0", "1.1.0", "json", true)
}

func TestRolloutWaitDecidesEarlyE2E(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		args := func(prefix string, more ...string) []string {
			return append([]string{"rollout", "wait", "--broker", env.URL, "--topic-prefix", prefix, "--version", "1.1.0", "--timeout", "120s", "-o", "json"}, more...)
		}
		timed := func(args ...string) (result, time.Duration) {
			t0 := time.Now()
			res := runOtactl(t, "", nil, "", args...)
			return res, time.Since(t0)
		}

		// The case: 96 updated, 4 failed, 0 pending.
		publishEarlyFleet(t, env, "retained/", 96, 4, func(i int) []byte { return failedReport(t, i) })

		t.Run("unreachable", func(t *testing.T) {
			res, took := timed(args("retained/", "--max-failed", "5")...)
			if res.code != ExitRolloutFail || took > decided {
				t.Fatalf("exit %d after %s, want %d within %s\n%s", res.code, took.Round(time.Millisecond), ExitRolloutFail, decided, res.stderr)
			}
			v := decodeVerdict(t, res.stdout)
			v.agree(t)
			if v.Verdict != "failed" || !v.Unreachable || v.TooManyFailed || v.Updated != 96 || v.FailedCount != 4 || v.PendingCount != 0 || v.Need != 100 {
				t.Errorf("verdict %+v", v)
			}
			for _, want := range []string{
				"failed:\n  x00: integrity check failure",
				"rollout failed: the goal can no longer be met: 96 of 100 devices updated, 4 failed (5 allowed) and 0 can still update, fewer than the 100 needed",
				"hint: a failed device cannot count as updated",
			} {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
				}
			}
		})

		t.Run("met", func(t *testing.T) {
			res, took := timed(args("retained/", "--max-failed", "5", "--min-updated", "96%")...)
			if res.code != ExitOK || took > decided {
				t.Fatalf("exit %d after %s, want 0 within %s\n%s", res.code, took.Round(time.Millisecond), decided, res.stderr)
			}
			if v := decodeVerdict(t, res.stdout); v.Verdict != "done" || v.Updated != 96 || v.Need != 96 {
				t.Errorf("verdict %+v", v)
			}
		})

		// Live: 96 updated, 4 still downloading.
		publishEarlyFleet(t, env, "live/", 96, 4, func(int) []byte {
			return reportPayload(t, report.Downloading, report.ReasonReady, "1.0.0", "1.1.0", "cbor", true)
		})
		pub := publisher(t, env, "live/")

		t.Run("met live", func(t *testing.T) {
			w := startOtactl(t, args("live/", "--max-failed", "2", "--min-updated", "98%")...)
			waitFor(t, "the first progress line", func() bool {
				return strings.Contains(w.stderr.String(), "main 1.1.0: 96/100 updated (need 98), 0 failed (allowed 2), 4 pending")
			})
			pub("devices/x00/.u/c/main", sdkPayload(t, 3, 1, "1.1.0", ""))
			pub("devices/x01/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.1.0", "", "json", false))
			t0 := time.Now()
			code := w.wait(t)
			if took := time.Since(t0); code != ExitOK || took > decided {
				t.Fatalf("exit %d %s after the last report, want 0 within %s\n%s", code, took.Round(time.Millisecond), decided, w.stderr)
			}
			if v := decodeVerdict(t, w.stdout.String()); v.Verdict != "done" || v.Updated != 98 {
				t.Errorf("verdict %+v", v)
			}
		})

		t.Run("unreachable live", func(t *testing.T) {
			// 98 updated, x02 and x03 downloading: one failure of
			// the five allowed, and the 100 needed are out of reach.
			w := startOtactl(t, args("live/", "--max-failed", "5")...)
			waitFor(t, "the first progress line", func() bool {
				return strings.Contains(w.stderr.String(), "main 1.1.0: 98/100 updated (need 100), 0 failed (allowed 5), 2 pending")
			})
			pub("devices/x02/.u/c/main", failedReport(t, 0))
			t0 := time.Now()
			code := w.wait(t)
			if took := time.Since(t0); code != ExitRolloutFail || took > decided {
				t.Fatalf("exit %d %s after the failure, want %d within %s\n%s", code, took.Round(time.Millisecond), ExitRolloutFail, decided, w.stderr)
			}
			v := decodeVerdict(t, w.stdout.String())
			v.agree(t)
			if !v.Unreachable || v.FailedCount != 1 || v.PendingCount != 1 || len(v.Pending) != 1 || v.Pending[0].Device != "x03" {
				t.Errorf("verdict %+v", v)
			}
		})

		// Listed devices: one updated, one failed, one never reported.
		pubL := func(topic string, payload []byte) { env.Publish(t, "list/"+topic, payload) }
		pubL("devices/d1/.u/c/main", reportPayload(t, report.Updated, report.ReasonUpdated, "1.1.0", "", "cbor", true))
		pubL("devices/d2/.u/c/main", failedReport(t, 1))
		pubL("devices/d4/.u/c/main", reportPayload(t, report.Downloading, report.ReasonReady, "1.0.0", "1.1.0", "json", false))
		file := filepath.Join(t.TempDir(), "devices.txt")
		if err := os.WriteFile(file, []byte("d1\nd2\n# not yet\nd3\n"), 0o644); err != nil {
			t.Fatal(err)
		}

		t.Run("listed unreachable", func(t *testing.T) {
			res, took := timed(args("list/", "--devices-file", file, "--max-failed", "1")...)
			if res.code != ExitRolloutFail || took > decided {
				t.Fatalf("exit %d after %s, want %d within %s\n%s", res.code, took.Round(time.Millisecond), ExitRolloutFail, decided, res.stderr)
			}
			v := decodeVerdict(t, res.stdout)
			v.agree(t)
			if !v.Unreachable || v.Total != 3 || v.NotSeen != 1 {
				t.Errorf("verdict %+v", v)
			}
		})

		t.Run("listed counts agree", func(t *testing.T) {
			// Two of three needed: d3, never seen, could still
			// update; the wait times out and says so consistently.
			res := runOtactl(t, "", nil, "", append(args("list/", "--devices-file", file, "--max-failed", "1", "--min-updated", "60%"), "--timeout", "2s")...)
			if res.code != ExitTimeout {
				t.Fatalf("exit %d, want %d\n%s", res.code, ExitTimeout, res.stderr)
			}
			v := decodeVerdict(t, res.stdout)
			v.agree(t)
			if v.NotSeen != 1 || v.NotKnown != 0 || len(v.Pending) != 1 || v.Pending[0].Device != "d3" || v.Pending[0].Seen {
				t.Errorf("verdict %+v", v)
			}
			// And with --expect, the devices not yet known have no
			// row but count as not seen and pending.
			res = runOtactl(t, "", nil, "", "rollout", "wait", "--broker", env.URL, "--topic-prefix", "list/", "--version", "1.1.0",
				"--expect", "6", "--min-updated", "50%", "--max-failed", "1", "--timeout", "2s", "-o", "json")
			if res.code != ExitTimeout {
				t.Fatalf("--expect 6: exit %d, want %d\n%s", res.code, ExitTimeout, res.stderr)
			}
			v = decodeVerdict(t, res.stdout)
			v.agree(t)
			if v.Total != 6 || v.NotKnown != 3 || v.NotSeen != 3 || v.PendingCount != 4 {
				t.Errorf("--expect 6: verdict %+v", v)
			}
		})
	})
}

func TestRolloutWaitSignalsE2E(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		publishEarlyFleet(t, env, "sig/", 3, 2, func(int) []byte {
			return reportPayload(t, report.Downloading, report.ReasonReady, "1.0.0", "1.1.0", "json", false)
		})
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(sig.String(), func(t *testing.T) {
				w := startOtactl(t, "rollout", "wait", "--broker", env.URL, "--topic-prefix", "sig/", "--version", "1.1.0", "--timeout", "120s", "-o", "json")
				waitFor(t, "the first progress line", func() bool {
					return strings.Contains(w.stderr.String(), "main 1.1.0: 3/5 updated (need 5), 0 failed (allowed 0), 2 pending")
				})
				interrupted(t, w, sig)
			})
		}
	})
}

// TestRolloutWaitStalledBrokerE2E: a broker that takes the connection and
// then answers nothing. A signal still ends the wait (130); --timeout
// ends it as a timeout (5), with or without --version.
func TestRolloutWaitStalledBrokerE2E(t *testing.T) {
	t.Parallel()
	url, _ := testbroker.Stalled(t)
	base := []string{"rollout", "wait", "--broker", url, "--broker-timeout", "60s"}

	w := startOtactl(t, append(base, "--version", "1.1.0", "--timeout", "120s")...)
	time.Sleep(time.Second) // connected, and waiting for the retained messages
	interrupted(t, w, syscall.SIGINT)

	for _, more := range [][]string{{"--version", "1.1.0"}, nil} {
		t0 := time.Now()
		res := runOtactl(t, "", nil, "", append(append(base, "--timeout", "2s"), more...)...)
		if took := time.Since(t0); res.code != ExitTimeout || took > decided {
			t.Errorf("%v: exit %d after %s, want %d within %s\n%s", more, res.code, took.Round(time.Millisecond), ExitTimeout, decided, res.stderr)
		}
		if !strings.Contains(res.stderr, "rollout timed out after 2s") {
			t.Errorf("%v: stderr:\n%s", more, res.stderr)
		}
	}
}

// interrupted sends sig to a running wait and checks that it ends at
// once with exit 130, saying "interrupted" and printing no verdict.
func interrupted(t *testing.T, w *runningOtactl, sig syscall.Signal) {
	t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	code := w.wait(t)
	if took := time.Since(t0); code != ExitInterrupted || took > decided {
		t.Fatalf("%s: exit %d after %s, want %d within %s\n%s", sig, code, took.Round(time.Millisecond), ExitInterrupted, decided, w.stderr)
	}
	if !strings.HasSuffix(w.stderr.String(), "interrupted\n") || w.stdout.String() != "" {
		t.Errorf("%s: stdout %q, stderr:\n%s", sig, w.stdout, w.stderr)
	}
}

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

func TestRolloutWaitE2E(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		// A fleet told to run main 1.1.0: d1 runs it (JSON, long
		// keys), d2 downloads it (JSON, short keys), d3 too (SDK
		// CBOR); one report does not decode.
		setup := func(prefix string) {
			pub := publisher(t, env, prefix)
			pub(".u/desired", manifestPayload(t, 2000, false, map[string]string{"main": "1.1.0"}))
			pub("devices/d1/.u/c/main", reportPayload(t, report.Updated, report.ReasonUpdated, "1.1.0", "", "json", false))
			pub("devices/d2/.u/c/main", reportPayload(t, report.Downloading, report.ReasonReady, "1.0.0", "1.1.0", "json", true))
			pub("devices/d3/.u/c/main", sdkPayload(t, 1, 0, "1.0.0", "1.1.0"))
			pub("devices/bad/.u/c/main", []byte(`{"state":"downloading"}`))
		}
		args := func(prefix string, more ...string) []string {
			return append([]string{"rollout", "wait", "--broker", env.URL, "--topic-prefix", prefix}, more...)
		}

		t.Run("timeout", func(t *testing.T) {
			setup("timeout/")
			res := runOtactl(t, "", nil, "", args("timeout/", "--version", "1.1.0", "--timeout", "2s", "-o", "json")...)
			if res.code != ExitTimeout {
				t.Fatalf("exit %d, want %d\n%s", res.code, ExitTimeout, res.stderr)
			}
			v := decodeVerdict(t, res.stdout)
			if v.Verdict != "timeout" || v.Updated != 1 || v.Total != 3 || !slices.Equal(devicesOf(v.Pending), []string{"d2", "d3"}) {
				t.Fatalf("verdict %+v", v)
			}
			for _, want := range []string{"pending:", "d2: downloading (running 1.0.0, target 1.1.0", "d3: downloading", "rollout timed out after 2s", "hint: "} {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr does not name %q:\n%s", want, res.stderr)
				}
			}
		})

		t.Run("failed", func(t *testing.T) {
			setup("failed/")
			env.Publish(t, "failed/devices/d3/.u/c/main", sdkPayload(t, 1, 5, "1.0.0", "1.1.0"))
			res := runOtactl(t, "", nil, "", args("failed/", "--version", "1.1.0", "-o", "json")...)
			if res.code != ExitRolloutFail {
				t.Fatalf("exit %d, want %d\n%s", res.code, ExitRolloutFail, res.stderr)
			}
			v := decodeVerdict(t, res.stdout)
			if v.Verdict != "failed" || v.FailedCount != 1 || len(v.Failures) != 1 || v.Failures[0].Device != "d3" || v.Failures[0].ReasonName != "integrity-check-failed" {
				t.Fatalf("verdict %+v", v)
			}
			for _, want := range []string{"failed:\n  d3: integrity check failure for new downloaded package", "rollout failed: 1 of 3 devices failed, more than the 0 allowed"} {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
				}
			}
			// Allowed one failure and needing two of the three devices
			// updated, it waits for the others instead.
			res = runOtactl(t, "", nil, "", args("failed/", "--version", "1.1.0", "--max-failed", "1", "--min-updated", "50%", "--timeout", "1s")...)
			if res.code != ExitTimeout || res.stdout != "" {
				t.Fatalf("with --max-failed 1: exit %d, stdout %q\n%s", res.code, res.stdout, res.stderr)
			}
		})

		t.Run("done", func(t *testing.T) {
			setup("done/")
			w := startOtactl(t, args("done/", "--expect", "4", "--timeout", "5m", "-o", "json")...)
			// It reads the retained picture, then follows live reports.
			waitFor(t, "the first progress line", func() bool {
				return strings.Contains(w.stderr.String(), "main 1.1.0: 1/4 updated (need 4), 0 failed (allowed 0), 3 pending")
			})
			pub := publisher(t, env, "done/")
			pub("devices/d2/.u/c/main", reportPayload(t, report.Updated, report.ReasonUpdated, "1.1.0", "", "json", true))
			pub("devices/d3/.u/c/main", sdkPayload(t, 3, 1, "1.1.0", ""))
			pub("devices/d4/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.1.0", "", "cbor", false))
			if code := w.wait(t); code != ExitOK {
				t.Fatalf("exit %d\n%s", code, w.stderr)
			}
			v := decodeVerdict(t, w.stdout.String())
			if v.Verdict != "done" || v.Updated != 4 || v.Total != 4 || v.Version != "1.1.0" || len(v.Pending) != 0 {
				t.Fatalf("verdict %+v", v)
			}
			for _, want := range []string{"waiting for main 1.1.0 (from the fleet's desired manifest, sequence 2000)", "rollout done: main 1.1.0: 4/4 updated"} {
				if !strings.Contains(w.stderr.String(), want) {
					t.Errorf("stderr does not say %q:\n%s", want, w.stderr)
				}
			}
		})
	})
}

func TestRolloutWaitCohortE2E(t *testing.T) {
	t.Parallel()
	env := testbroker.Start(t, testbroker.KindEmbedded)
	const prefix = "cohort/"
	pub := publishCohortFleet(t, env, prefix, 3000, "1.1.0", "2.0.0-rc1",
		reportPayload(t, report.Downloading, report.ReasonReady, "1.1.0", "2.0.0-rc1", "cbor", true),
		reportPayload(t, report.Updated, report.ReasonUpdated, "2.0.0-rc1", "", "json", false),
		reportPayload(t, report.Idle, report.ReasonReady, "1.1.0", "", "json", false),
		reportPayload(t, report.Downloading, report.ReasonConnectionLost, "1.0.0", "1.1.0", "json", false))
	base := []string{"--broker", env.URL, "--topic-prefix", prefix}

	// Members known from their reports: c1 and c2, not f1 and f2.
	w := startOtactl(t, append([]string{"rollout", "wait", "--cohort", "canary", "--expect", "2", "-o", "json"}, base...)...)
	waitFor(t, "the first progress line", func() bool { return strings.Contains(w.stderr.String(), "main 2.0.0-rc1: 1/2 updated") })
	pub("devices/c1/.u/c/main", sdkPayload(t, 0, 0, "1.1.0", ""))
	pub("devices/c1/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "2.0.0-rc1", "", "cbor", true))
	if code := w.wait(t); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, w.stderr)
	}
	if v := decodeVerdict(t, w.stdout.String()); v.Total != 2 || v.Updated != 2 || v.Version != "2.0.0-rc1" {
		t.Fatalf("verdict %+v", v)
	}
	if !strings.Contains(w.stderr.String(), "waiting for main 2.0.0-rc1 (from cohort canary's desired manifest, sequence 3001)") {
		t.Errorf("stderr:\n%s", w.stderr)
	}

	// Two cohorts, one gate: the members of both count, and the version is
	// the one both cohorts' manifests give.
	pub("cohorts/beta/.u/desired", manifestPayload(t, 3002, false, map[string]string{"main": "2.0.0-rc1"}))
	pub("devices/b1/.u/c/main", reportPayload(t, report.Updated, report.ReasonUpdated, "2.0.0-rc1", "", "json", false))
	res := runOtactl(t, "", nil, "", append([]string{"rollout", "wait", "--cohort", "canary", "--cohort", "beta", "--expect", "3", "--timeout", "1m", "-o", "json"}, base...)...)
	if v := decodeVerdict(t, res.stdout); res.code != ExitOK || v.Total != 3 || v.Updated != 3 || v.Version != "2.0.0-rc1" {
		t.Fatalf("two cohorts: exit %d, verdict %+v\n%s", res.code, v, res.stderr)
	}
	if !strings.Contains(res.stderr, "waiting for main 2.0.0-rc1 (from the desired manifests of cohorts canary, beta)") {
		t.Errorf("two cohorts: stderr:\n%s", res.stderr)
	}
	// Cohorts whose manifests give different versions: no guess.
	pub("cohorts/beta/.u/desired", manifestPayload(t, 3003, false, map[string]string{"main": "2.0.0"}))
	res = runOtactl(t, "", nil, "", append([]string{"rollout", "wait", "--cohort", "canary", "--cohort", "beta"}, base...)...)
	if res.code != ExitUsage || !strings.Contains(res.stderr, "the cohorts' desired manifests give main different versions (2.0.0-rc1, 2.0.0)") {
		t.Fatalf("two versions: exit %d\n%s", res.code, res.stderr)
	}

	// Members listed in a file: f2 has failed at the cohort's version; the
	// silent one is pending, and could still make two of three updated.
	pub("devices/f2/.u/c/main", reportPayload(t, report.Downloading, report.ReasonConnectionLost, "1.1.0", "2.0.0-rc1", "json", true))
	file := filepath.Join(t.TempDir(), "canary.txt")
	if err := os.WriteFile(file, []byte("c1\nf2\nsilent\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res = runOtactl(t, "", nil, "", append([]string{"rollout", "wait", "--cohort", "canary", "--devices-file", file, "--max-failed", "50%", "--min-updated", "60%", "--timeout", "1s", "-o", "json"}, base...)...)
	v := decodeVerdict(t, res.stdout)
	if res.code != ExitTimeout || v.Total != 3 || v.Updated != 1 || v.Allowed != 1 || !slices.Equal(devicesOf(v.Failures), []string{"f2"}) || !slices.Equal(devicesOf(v.Pending), []string{"silent"}) {
		t.Fatalf("exit %d, verdict %+v\n%s", res.code, v, res.stderr)
	}
	if !strings.Contains(res.stderr, "silent: no report") {
		t.Errorf("stderr:\n%s", res.stderr)
	}

	// A cohort without a manifest and without a list cannot be judged,
	// alone or with another.
	res = runOtactl(t, "", nil, "", append([]string{"rollout", "wait", "--cohort", "canary", "--cohort", "nobody", "--version", "1.0.0"}, base...)...)
	if res.code != ExitError || !strings.Contains(res.stderr, "cohort nobody has no desired manifest at cohort/cohorts/nobody/.u/desired") {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
}

func TestRolloutWaitUsageE2E(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--version", "1.0", "--max-failed", "lots"}, "--max-failed: bad threshold"},
		{[]string{"--version", "1.0", "--min-updated", "150%"}, "--min-updated: bad share"},
		{[]string{"--version", "1.0", "--device", "d*"}, "takes device ids, not patterns"},
		{[]string{"--version", "1.0", "--device", "d1", "--expect", "3"}, "--expect: the devices listed (1) are the devices that count"},
		{[]string{"--version", "bad version"}, "--version:"},
		{[]string{"--version", "1.0", "--timeout", "0s"}, "--timeout 0s: must be positive"},
		{[]string{"--version", "1.0", "extra"}, "unexpected argument"},
		{[]string{"--version", "1.0", "-o", "yaml"}, "unknown output format"},
	} {
		res := runOtactl(t, "", nil, "", append([]string{"rollout", "wait", "--broker", "mqtt://127.0.0.1:1"}, tc.args...)...)
		if res.code != ExitUsage || !strings.Contains(res.stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, res.code, res.stderr, tc.msg)
		}
	}
}

// TestRolloutWaitDecidedAtDeadlineE2E: a report that decides the gate
// and arrives in the last moments before --timeout, after the wait's
// last look, decides it: exit 0 or 4 with that outcome, not a timeout
// (exit 5) whose document says done or failed.
func TestRolloutWaitDecidedAtDeadlineE2E(t *testing.T) {
	t.Parallel()
	env := testbroker.Start(t, testbroker.KindEmbedded)
	for i, tc := range []struct {
		name    string
		report  []byte
		code    int
		outcome string
	}{
		{"updated", []byte(`{"state":3,"reason":1,"version":"9.0","target":"9.0"}`), ExitOK, "done"},
		{"failed", []byte(`{"state":1,"reason":5,"version":"8.0","target":"9.0"}`), ExitRolloutFail, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			device := fmt.Sprintf("fk%d", i)
			topic := "dl/devices/" + device + "/.u/c/main"
			env.Publish(t, topic, []byte(`{"state":1,"reason":0,"version":"8.0","target":"9.0"}`))
			t0 := time.Now()
			w := startOtactl(t, "rollout", "wait", "--broker", env.URL, "--topic-prefix", "dl/", "--device", device,
				"--version", "9.0", "--timeout", "2s", "-o", "json")
			time.Sleep(time.Until(t0.Add(1900 * time.Millisecond)))
			env.Publish(t, topic, tc.report)
			code := w.wait(t)
			v := decodeVerdict(t, w.stdout.String())
			v.agree(t)
			if code != tc.code || v.Verdict != tc.outcome || v.Done != (tc.outcome == "done") || v.Failed != (tc.outcome == "failed") {
				t.Fatalf("exit %d, outcome %q (done %v, failed %v); want exit %d, %q\n%s", code, v.Verdict, v.Done, v.Failed, tc.code, tc.outcome, w.stderr)
			}
		})
	}
}

// TestRolloutWaitTimeoutDocumentE2E: with -o json every timeout prints
// the gate's document, one that ran out before the version was known
// (from the desired manifests) too: outcome timeout, no version.
func TestRolloutWaitTimeoutDocumentE2E(t *testing.T) {
	t.Parallel()
	env := testbroker.Start(t, testbroker.KindEmbedded)
	for _, more := range [][]string{nil, {"--version", "1.1.0"}} {
		res := runOtactl(t, "", nil, "", append([]string{"rollout", "wait", "--broker", env.URL, "--topic-prefix", "td/", "--timeout", "1ms", "-o", "json"}, more...)...)
		if res.code != ExitTimeout {
			t.Fatalf("%v: exit %d, want %d\n%s", more, res.code, ExitTimeout, res.stderr)
		}
		if _, err := output.Check([]byte(res.stdout)); err != nil {
			t.Fatalf("%v: %v\n%q", more, err, res.stdout)
		}
		v := decodeVerdict(t, res.stdout)
		v.agree(t)
		want := ""
		if more != nil {
			want = "1.1.0"
		}
		if v.Verdict != "timeout" || v.Done || v.Failed || v.Package != "main" || v.Version != want {
			t.Errorf("%v: document %s", more, res.stdout)
		}
	}
}
