package commands

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/publish"
)

// These tests run release publish --wait, the built binary, against real
// brokers (the embedded one and mosquitto) and fleets of `otactl simulate`:
// it gates on exactly the devices it targeted, exits 0, 4 or 5 as rollout
// wait does, and 3 without waiting when the publish is refused; in GitHub
// Actions it groups, annotates and writes the step summary.

// publishWaitOutput is what release publish --wait -o json prints: the
// publish's report, with the gate's result under "gate".
type publishWaitOutput struct {
	Publish publish.Report `json:"-"`
	Gate    gateVerdict    `json:"gate"`
}

func decodePublishWait(t *testing.T, out string) publishWaitOutput {
	t.Helper()
	var v publishWaitOutput
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("release publish --wait -o json printed %q: %v", out, err)
	}
	if err := json.Unmarshal([]byte(out), &v.Publish); err != nil {
		t.Fatalf("release publish --wait -o json printed %q: %v", out, err)
	}
	v.Gate.agree(t)
	return v
}

// simulatedFleet runs `otactl simulate` with n devices PREFIX0001... under
// topic prefix topics until the test ends, and waits until every one of
// them retains a report.
func simulatedFleet(t *testing.T, env *testbroker.Broker, topics, prefix string, n int, more ...string) {
	t.Helper()
	args := append([]string{"simulate", "--broker", env.URL, "--topic-prefix", topics, "--devices", strconv.Itoa(n), "--id-prefix", prefix, "--reboot-time", "50ms", "--jitter", "300ms"}, more...)
	background(t, nil, args...)
	waitFor(t, "the simulated devices' reports", func() bool {
		res := runOtactl(t, "", nil, "", "watch", "--once", "-o", "json", "--broker", env.URL, "--topic-prefix", topics)
		return res.code == 0 && strings.Count(res.stdout, "\n") >= n
	})
}

// inActions is the environment of a run in GitHub Actions, its step
// summary in a file of the test's.
func inActions(t *testing.T) (env []string, summary string) {
	summary = filepath.Join(t.TempDir(), "step-summary.md")
	return []string{"GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY=" + summary}, summary
}

func readSummary(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("step summary: %v", err)
	}
	return string(b)
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("%s does not say %q:\n%s", what, want, got)
		}
	}
}

func TestPublishWaitHealthyE2E(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		dir := t.TempDir()
		simulatedFleet(t, env, "ok/", "ok-", 8)
		manifest, fw := testRelease(t, dir, "1.1.0", 5000, 4000)
		ghEnv, summary := inActions(t)
		res := runWithin(t, decided*6, dir, ghEnv, "", "release", "publish", manifest, fw, "--broker", env.URL, "--topic-prefix", "ok/",
			"--percent", "50", "--wait", "--wait-timeout", "60s", "-o", "json")
		if res.code != ExitOK {
			t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
		}
		v := decodePublishWait(t, res.stdout)
		var targeted []string
		for _, tr := range v.Publish.Targets {
			if tr.Kind != "device" || tr.Action != "published" || !publish.PercentChosen(tr.Name, 50) {
				t.Errorf("target %+v: not a device chosen at 50%%", tr)
			}
			targeted = append(targeted, tr.Name)
		}
		// The gate judged exactly the devices chosen, no other device of
		// the fleet, and all of them updated.
		if len(targeted) == 0 || len(targeted) == 8 || v.Gate.Verdict != "done" || v.Gate.Total != len(targeted) ||
			v.Gate.Updated != len(targeted) || v.Gate.Version != "1.1.0" || v.Gate.Package != "main" {
			t.Errorf("targeted %v; gate %+v", targeted, v.Gate.GateResult)
		}
		mustContain(t, "stderr", res.stderr, "::group::publish: release 5000\n", "::group::wait: main 1.1.0 on ", "::endgroup::", "rollout done: main 1.1.0: ")
		if strings.Contains(res.stderr, "::error") {
			t.Errorf("a healthy rollout annotated an error:\n%s", res.stderr)
		}
		s := readSummary(t, summary)
		mustContain(t, "the step summary", s, "### publish: release 5000", "| device "+targeted[0]+" | ok/devices/"+targeted[0]+"/.u/desired | published |",
			"### wait: main 1.1.0 on ", "| done | main | 1.1.0 | ")
	})
}

func TestPublishWaitFailedE2E(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		dir := t.TempDir()
		simulatedFleet(t, env, "bad/", "bad-", 6, "--fail", "integrity=100%")
		manifest, fw := testRelease(t, dir, "1.1.0", 5000, 4000)
		ghEnv, summary := inActions(t)
		// The fleet: every device reporting main counts, 6 at least.
		res := runWithin(t, decided*6, dir, ghEnv, "", "release", "publish", manifest, fw, "--broker", env.URL, "--topic-prefix", "bad/",
			"--wait", "--expect", "6", "--wait-timeout", "60s", "-o", "json")
		if res.code != ExitRolloutFail {
			t.Fatalf("exit %d, want %d\n%s", res.code, ExitRolloutFail, res.stderr)
		}
		v := decodePublishWait(t, res.stdout)
		if len(v.Publish.Targets) != 1 || v.Publish.Targets[0].Kind != "fleet" || v.Gate.Verdict != "failed" || v.Gate.Total != 6 || v.Gate.FailedCount == 0 {
			t.Errorf("publish targets %+v; gate %+v", v.Publish.Targets, v.Gate.GateResult)
		}
		failed := devicesOf(v.Gate.Failures)
		mustContain(t, "stderr", res.stderr, "failed:\n  "+failed[0]+": ", "rollout failed: ",
			"::error title=device "+failed[0]+"::", "::error title=rollout failed::rollout failed: ")
		if !strings.Contains(res.stderr, "integrity check failure") && !strings.Contains(res.stderr, "awaiting retry") {
			t.Errorf("the failure's reason is not named:\n%s", res.stderr)
		}
		mustContain(t, "the step summary", readSummary(t, summary), "| failed | main | 1.1.0 | ", "**failed devices**", "| "+failed[0]+" | ")

		// rollout wait, on the same fleet and the same step summary:
		// appended to, as GitHub expects. The version is the fleet's
		// desired manifest's.
		res = runWithin(t, decided*6, dir, ghEnv, "", "rollout", "wait", "--broker", env.URL, "--topic-prefix", "bad/", "--expect", "6", "--timeout", "60s")
		if res.code != ExitRolloutFail {
			t.Fatalf("rollout wait: exit %d, want %d\n%s", res.code, ExitRolloutFail, res.stderr)
		}
		mustContain(t, "rollout wait's stderr", res.stderr, "::group::rollout wait: main\nwaiting for main 1.1.0 (from the fleet's desired manifest, sequence 5000)\n", "::endgroup::\nfailed:\n", "::error title=device ")
		s := readSummary(t, summary)
		first, second := strings.Index(s, "### wait: main 1.1.0 on the fleet"), strings.Index(s, "### rollout wait: main 1.1.0")
		if first < 0 || second < first {
			t.Errorf("the step summary does not hold both, in order:\n%s", s)
		}
	})
}

// publishedOnly checks that out is release publish -o json's document of
// release seq published to topic, without a gate: the wait ended without
// a verdict.
func publishedOnly(t *testing.T, out string, seq int64, topic string) {
	t.Helper()
	if _, err := output.Check([]byte(out)); err != nil {
		t.Fatalf("release publish --wait -o json: %v\n%s", err, out)
	}
	var doc struct {
		publish.Report
		Gate *json.RawMessage `json:"gate"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SequenceNumber != seq || len(doc.Targets) != 1 || doc.Targets[0].Topic != topic || doc.Gate != nil {
		t.Errorf("printed %s, want release %d published to %s, without a gate", out, seq, topic)
	}
}

func TestPublishWaitTimeoutAndRefusalE2E(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		dir := t.TempDir()
		manifest, fw := testRelease(t, dir, "1.1.0", 5000, 4000)
		base := []string{"--broker", env.URL, "--topic-prefix", "slow/", "--device", "ghost", "--wait", "--wait-timeout", "2s"}
		res := runWithin(t, decided*3, dir, nil, "", append([]string{"release", "publish", manifest, fw, "-o", "json"}, base...)...)
		if res.code != ExitTimeout {
			t.Fatalf("exit %d, want %d\n%s", res.code, ExitTimeout, res.stderr)
		}
		v := decodePublishWait(t, res.stdout)
		if v.Gate.Verdict != "timeout" || v.Gate.Total != 1 || strings.Join(devicesOf(v.Gate.Pending), ",") != "ghost" {
			t.Errorf("gate %+v", v.Gate.GateResult)
		}
		mustContain(t, "stderr", res.stderr, "pending:\n  ghost: no report", "rollout timed out after 2s", "hint: a longer --wait-timeout waits longer")

		// A lower sequence is refused (exit 3) before any wait. In GitHub
		// Actions the publish's group is on standard output, with its
		// progress, and the refusal is annotated.
		older, olderFw := testRelease(t, dir, "1.0.9", 4000, 4000)
		ghEnv, _ := inActions(t)
		res = runWithin(t, decided*3, dir, ghEnv, "", append([]string{"release", "publish", older, olderFw}, base...)...)
		if res.code != ExitVerification || strings.Contains(res.stderr, "waiting for") {
			t.Fatalf("older release: exit %d, want %d without waiting\n%s", res.code, ExitVerification, res.stderr)
		}
		if !strings.HasPrefix(res.stdout, "::group::publish: release 4000\nartifact main@1.0.9: uploaded") || !strings.HasSuffix(res.stdout, "\n::endgroup::\n") {
			t.Errorf("the publish's group on standard output:\n%s", res.stdout)
		}
		mustContain(t, "stderr", res.stderr, "::error title=release publish failed::")

		// Interrupted while waiting: exit 130, what was published, no
		// verdict.
		w := startOtactl(t, "release", "publish", manifest, "-o", "json", "--broker", env.URL, "--topic-prefix", "slow/", "--device", "ghost2", "--wait")
		waitFor(t, "the wait", func() bool { return strings.Contains(w.stderr.String(), "waiting for main 1.1.0 on device ghost2") })
		if err := w.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if code := w.wait(t); code != ExitInterrupted {
			t.Errorf("interrupted: exit %d, want %d\n%s", code, ExitInterrupted, w.stderr.String())
		}
		publishedOnly(t, w.stdout.String(), 5000, "slow/devices/ghost2/.u/desired")
	})
}

// TestPublishWaitRefusals: command lines refused (exit 2) before any
// network traffic: no broker listens.
func TestPublishWaitRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	manifest, _ := testRelease(t, dir, "1.1.0", 5000, 100)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-failed", "1"}, "--max-failed is for --wait"},
		{[]string{"--wait-timeout", "1m"}, "--wait-timeout is for --wait"},
		{[]string{"--wait", "--dry-run"}, "--wait with --dry-run"},
		{[]string{"--wait", "--cohort", "a", "--device", "d1"}, "a cohort or for devices, not both"},
		{[]string{"--wait", "--device", "d1", "--expect", "3"}, "the devices targeted are the devices that count"},
		{[]string{"--wait", "--wait-package", "modem"}, "the manifest has no component modem"},
		{[]string{"--wait", "--max-failed", "lots"}, "--max-failed: bad threshold"},
		{[]string{"--wait", "--wait-timeout", "0s"}, "--wait-timeout 0s: must be positive"},
	} {
		args := append([]string{"release", "publish", manifest, "--broker", "mqtt://127.0.0.1:1"}, tc.args...)
		res := runOtactl(t, dir, nil, "", args...)
		if res.code != ExitUsage || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("%v: exit %d, want %d saying %q\n%s", tc.args, res.code, ExitUsage, tc.want, res.stderr)
		}
	}
}
