package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/syncbuf"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/internal/testsecrets"
	"github.com/otactl/otactl/report"
)

// These tests run the built binary against real brokers, with reports
// published as devices publish them: JSON with long keys, JSON with short
// keys, the Golioth SDK's CBOR, and a malformed one.

// runningOtactl is the otactl binary running in the background.
type runningOtactl struct {
	cmd            *exec.Cmd
	stdout, stderr *syncbuf.Buffer
	done           chan struct{}
	code           int
}

// startOtactl starts the built binary with args, with an environment as
// runOtactl's, and returns at once.
func startOtactl(t *testing.T, args ...string) *runningOtactl {
	t.Helper()
	return startOtactlIn(t, "", nil, nil, args...)
}

// startOtactlIn is startOtactl in dir (when not empty), with the extra
// environment env and stdin as given (nil: none). Its exit code is the
// shell's: 128 + the signal for a process killed by one. When the test
// ends the process is killed if still running, and what it printed is
// checked for registered secrets.
func startOtactlIn(t *testing.T, dir string, env []string, stdin io.Reader, args ...string) *runningOtactl {
	t.Helper()
	r := &runningOtactl{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	r.cmd = otactlCommand(context.Background(), t, dir, env, args...)
	r.cmd.Stdin = stdin
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := r.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				r.code = 128 + int(ws.Signal())
			}
		}
		close(r.done)
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
		testsecrets.Check(t, runLabel(args), r.stdout.String(), r.stderr.String())
	})
	return r
}

// wait waits for the process to end and returns its exit code.
func (r *runningOtactl) wait(t *testing.T) int {
	t.Helper()
	return r.waitWithin(t, 2*time.Minute).code
}

// waitWithin waits at most d for the process to end; a process still
// running then is killed and the test fails.
func (r *runningOtactl) waitWithin(t *testing.T, d time.Duration) result {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(d):
		_ = r.cmd.Process.Kill()
		<-r.done
		t.Fatalf("otactl %s: still running after %v (killed)\nstderr: %s", strings.Join(r.cmd.Args[1:], " "), d, r.stderr)
	}
	return result{stdout: r.stdout.String(), stderr: r.stderr.String(), code: r.code}
}

// gateVerdict is what rollout wait -o json prints.
type gateVerdict struct {
	fleet.GateResult
	Failures []gateRow `json:"failures"`
	Pending  []gateRow `json:"pending"`
}

type gateRow struct {
	Device, Status, StateName, ReasonName, Version, Target string
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

func TestRolloutWaitE2E(t *testing.T) {
	t.Parallel()
	for _, env := range testbroker.All(t) {
		t.Run(env.Name, func(t *testing.T) {
			t.Parallel()
			// A fleet told to run main 1.1.0: d1 runs it (JSON, long
			// keys), d2 downloads it (JSON, short keys), d3 too (SDK
			// CBOR); one report does not decode.
			setup := func(prefix string) {
				pub := func(topic string, payload []byte) { env.Publish(t, prefix+topic, payload) }
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
				pub := func(topic string, payload []byte) { env.Publish(t, "done/"+topic, payload) }
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
}

func TestRolloutWaitCohortE2E(t *testing.T) {
	t.Parallel()
	env := testbroker.Embedded(t, broker.Config{})
	const prefix = "cohort/"
	pub := func(topic string, payload []byte) { env.Publish(t, prefix+topic, payload) }
	pub(".u/desired", manifestPayload(t, 3000, false, map[string]string{"main": "1.1.0"}))
	pub("cohorts/canary/.u/desired", manifestPayload(t, 3001, true, map[string]string{"main": "2.0.0-rc1"}))
	pub("devices/c1/.u/c/main", reportPayload(t, report.Downloading, report.ReasonReady, "1.1.0", "2.0.0-rc1", "cbor", true))
	pub("devices/c2/.u/c/main", reportPayload(t, report.Updated, report.ReasonUpdated, "2.0.0-rc1", "", "json", false))
	pub("devices/f1/.u/c/main", reportPayload(t, report.Idle, report.ReasonReady, "1.1.0", "", "json", false))
	pub("devices/f2/.u/c/main", reportPayload(t, report.Downloading, report.ReasonConnectionLost, "1.0.0", "1.1.0", "json", false))
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

	// Members listed in a file: f2 has failed at the cohort's version; the
	// silent one is pending, and could still make two of three updated.
	pub("devices/f2/.u/c/main", reportPayload(t, report.Downloading, report.ReasonConnectionLost, "1.1.0", "2.0.0-rc1", "json", true))
	file := filepath.Join(t.TempDir(), "canary.txt")
	if err := os.WriteFile(file, []byte("c1\nf2\nsilent\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := runOtactl(t, "", nil, "", append([]string{"rollout", "wait", "--cohort", "canary", "--devices-file", file, "--max-failed", "50%", "--min-updated", "60%", "--timeout", "1s", "-o", "json"}, base...)...)
	v := decodeVerdict(t, res.stdout)
	if res.code != ExitTimeout || v.Total != 3 || v.Updated != 1 || v.Allowed != 1 || !slices.Equal(devicesOf(v.Failures), []string{"f2"}) || !slices.Equal(devicesOf(v.Pending), []string{"silent"}) {
		t.Fatalf("exit %d, verdict %+v\n%s", res.code, v, res.stderr)
	}
	if !strings.Contains(res.stderr, "silent: no report") {
		t.Errorf("stderr:\n%s", res.stderr)
	}

	// A cohort without a manifest and without a list cannot be judged.
	res = runOtactl(t, "", nil, "", append([]string{"rollout", "wait", "--cohort", "nobody", "--version", "1.0.0"}, base...)...)
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

// demoStatusJSON is what rollout status -o json prints, without times.
type demoStatusJSON struct {
	Summary struct {
		Devices, Reports, Updated, Done, Pending, Stale, Failed, Retrying, Malformed int
		Target                                                                       string
		States                                                                       map[string]int
		Failures                                                                     []struct {
			ReasonName string
			Count      int
		}
	} `json:"summary"`
	Devices []map[string]any `json:"devices"`
}

// TestStatusAndOnceE2E publishes with mosquitto_pub to mosquitto and reads
// back with the binary, as the checks do.
func TestStatusAndOnceE2E(t *testing.T) {
	t.Parallel()
	env := testbroker.Mosquitto(t, mosquitto.Config{})
	publishDemoFleet(t, env, "")
	base := []string{"--broker", env.URL}

	res := runOtactl(t, "", nil, "", append([]string{"rollout", "status", "-o", "json"}, base...)...)
	if res.code != 0 {
		t.Fatalf("rollout status: exit %d\n%s", res.code, res.stderr)
	}
	var st demoStatusJSON
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("%v: %s", err, res.stdout)
	}
	s := st.Summary
	if s.Devices != 6 || s.Reports != 6 || s.Done != 2 || s.Pending != 2 || s.Retrying != 1 || s.Failed != 1 || s.Malformed != 2 ||
		s.States["idle"] != 4 || s.States["downloading"] != 2 || len(s.Failures) != 1 || s.Failures[0].ReasonName != "integrity-check-failed" {
		t.Errorf("summary %+v", s)
	}
	var rows []string
	for _, d := range st.Devices {
		delete(d, "time")
		b, _ := json.Marshal(d)
		rows = append(rows, string(b))
	}
	want := []string{
		`{"device":"d3","package":"main","reason":5,"reasonName":"integrity-check-failed","reportedTarget":"1.1.0","seen":true,"state":1,"stateName":"downloading","status":"failed","target":"1.1.0","topic":"devices/d3/.u/c/main","version":"1.0.0"}`,
		`{"device":"d4","package":"main","reason":11,"reasonName":"awaiting-retry","reportedTarget":"1.1.0","seen":true,"state":0,"stateName":"idle","status":"retrying","target":"1.1.0","topic":"devices/d4/.u/c/main","version":"1.0.0"}`,
		`{"device":"d2","package":"main","reason":0,"reasonName":"ready","reportedTarget":"1.1.0","seen":true,"state":1,"stateName":"downloading","status":"pending","target":"1.1.0","topic":"devices/d2/.u/c/main","version":"1.0.0"}`,
		`{"device":"d5","package":"main","reason":0,"reasonName":"ready","reportedTarget":"","seen":true,"state":0,"stateName":"idle","status":"pending","target":"1.2.0","topic":"devices/d5/.u/c/main","version":"1.1.0"}`,
	}
	if !slices.Equal(rows, want) {
		t.Errorf("devices not done:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}

	res = runOtactl(t, "", nil, "", append([]string{"watch", "--once", "-o", "json"}, base...)...)
	if res.code != 0 {
		t.Fatalf("watch --once: exit %d\n%s", res.code, res.stderr)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["time"])); err != nil {
			t.Errorf("line %q: time: %v", line, err)
		}
		delete(m, "time")
		b, _ := json.Marshal(m)
		got = append(got, string(b))
	}
	line := func(device, pkg string, state, reason int, stateName, reasonName, version, target string) string {
		b, _ := json.Marshal(map[string]any{"device": device, "package": pkg, "state": state, "stateName": stateName,
			"reason": reason, "reasonName": reasonName, "version": version, "target": target, "topic": "devices/" + device + "/.u/c/" + pkg})
		return string(b)
	}
	wantLines := []string{
		line("d3", "main", 1, 5, "downloading", "integrity-check-failed", "1.0.0", "1.1.0"),
		line("d4", "main", 0, 11, "idle", "awaiting-retry", "1.0.0", "1.1.0"),
		line("d2", "main", 1, 0, "downloading", "ready", "1.0.0", "1.1.0"),
		line("d5", "main", 0, 0, "idle", "ready", "1.1.0", ""),
		line("d1", "main", 0, 0, "idle", "ready", "1.1.0", ""),
		line("d9", "modem", 0, 0, "idle", "ready", "4.0.0", ""),
	}
	if !slices.Equal(got, wantLines) {
		t.Errorf("watch --once -o json:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
	}
	if !strings.Contains(res.stderr, "warning: 2 malformed reports") {
		t.Errorf("stderr %q", res.stderr)
	}
}

// TestStatus100kE2E checks that rollout status copes with 100,000
// retained reports and with payloads far over the report size limit
// (counted as malformed, never decoded), in bounded memory.
func TestStatus100kE2E(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("publishes 100,000 reports")
	}
	mosquitto.Require(t)
	// By default mosquitto drops messages for a client that has over 1,000
	// waiting (max_queued_messages): retained messages too, when the
	// client reads slower than the broker sends, as the race-built binary
	// on a loaded machine does. docs/watch.md tells operators to lift the
	// limit on brokers serving large fleets; so does this test.
	m := mosquitto.Start(t, mosquitto.Config{Extra: "max_queued_messages 0\n"})
	const devices, oversized, bigSize = 100_000, 16, 4 << 20
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + m.Addr()).SetClientID("fill-100k").SetWriteTimeout(time.Minute)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	pending := make([]mqtt.Token, 0, 1024)
	flush := func() {
		for _, tok := range pending {
			if !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
		}
		pending = pending[:0]
	}
	publish := func(topic string, payload []byte) {
		pending = append(pending, c.Publish(topic, 1, true, payload))
		if len(pending) == cap(pending) {
			flush()
		}
	}
	publish(".u/desired", manifestPayload(t, 4000, false, map[string]string{"main": "1.1.0"}))
	for i := range devices {
		state, reason, version, target := report.Idle, report.ReasonReady, "1.1.0", ""
		if i%1000 == 7 {
			state, reason, version, target = report.Downloading, report.ReasonIntegrityCheckFailed, "1.0.0", "1.1.0"
		}
		p, err := report.Encode(report.Report{State: state, Reason: reason, Version: version, Target: target}, "cbor", true)
		if err != nil {
			t.Fatal(err)
		}
		publish(fmt.Sprintf("devices/dev-%06d/.u/c/main", i), p)
	}
	big := make([]byte, bigSize)
	for i := range oversized {
		publish(fmt.Sprintf("devices/big-%02d/.u/c/main", i), big)
	}
	flush()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The broker acknowledges the end-of-retained probe only after the
	// whole retained set, which the race build reads slowly: a longer
	// broker timeout keeps a loaded test machine from failing the read.
	cmd := otactlCommand(ctx, t, "", nil, "rollout", "status", "--broker", m.URL(), "--timeout", "2m",
		"--package", "main", "--version", "1.1.0", "-o", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	testsecrets.Check(t, "otactl rollout status", string(out), stderr.String())
	if err != nil {
		t.Fatalf("rollout status: %v: %s\nmosquitto's log:\n%s", err, stderr.String(), m.Log())
	}
	var st demoStatusJSON
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	s := st.Summary
	if s.Devices != devices || s.Failed != devices/1000 || s.Done != devices-devices/1000 || s.Malformed != oversized || len(st.Devices) != devices/1000 {
		t.Fatalf("summary %+v, %d rows", s, len(st.Devices))
	}
	// The binary is built with -race, which costs memory of its own: the
	// bound catches runaway growth, it does not measure (BenchmarkFleet*
	// in output/ measures the model's cost per device).
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
	t.Logf("rollout status of %d devices and %d payloads of %d MiB: %d MiB peak resident (race build)", devices, oversized, bigSize>>20, rss>>20)
	if rss > 1<<30 {
		t.Errorf("peak resident memory %d MiB is over 1 GiB", rss>>20)
	}
}

// TestWatchLiveTmux drives the live view in a real terminal: tmux.
func TestWatchLiveTmux(t *testing.T) {
	t.Parallel()
	requireReal(t, "tmux", haveCommand("tmux"))
	env := testbroker.Embedded(t, broker.Config{})
	const prefix = "live/"
	publishDemoFleet(t, env, prefix)

	sock := filepath.Join(t.TempDir(), "tmux.sock")
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-S", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	home := t.TempDir()
	tmux("new-session", "-d", "-s", "w", "-x", "100", "-y", "30", "env", "-i", "PATH="+os.Getenv("PATH"), "HOME="+home, "TERM=xterm-256color", "PS1=$ ", raceEnv(), "sh")
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", sock, "kill-server").Run() })
	screen := func() string { return tmux("capture-pane", "-p", "-t", "w") }
	flags := func() string {
		return strings.TrimSpace(tmux("display", "-p", "-t", "w", "#{alternate_on} #{cursor_flag}"))
	}
	watch := fmt.Sprintf("%s watch --broker %s --topic-prefix %s; echo EXIT=$?", otactlBin, env.URL, prefix)

	tmux("send-keys", "-t", "w", "clear; "+watch, "Enter")
	waitFor(t, "the live table", func() bool {
		s := screen()
		return strings.Contains(s, "6 devices") && strings.Contains(s, "updated 1/5")
	})
	s := screen()
	lines := strings.Split(s, "\n")
	first := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "d3 ") })
	if first < 0 || !strings.Contains(lines[first], "failed") || !strings.Contains(s, "malformed 2") || !strings.Contains(s, "failures: integrity-check-failed 1") {
		t.Fatalf("screen:\n%s", s)
	}
	if f := flags(); f != "1 0" {
		t.Errorf("alternate screen and cursor: %q, want alternate screen on, cursor hidden", f)
	}

	// A live report shows up; a warning about a bad manifest waits until
	// the screen is given back.
	env.Publish(t, prefix+"cohorts/broken/.u/desired", []byte("not a manifest"))
	env.Publish(t, prefix+"devices/d2/.u/c/main", sdkPayload(t, 3, 1, "1.1.0", ""))
	waitFor(t, "the live update", func() bool { return strings.Contains(screen(), "updated 2/5") })

	// Smaller: the summary stays, rows give way with a count of the rest.
	tmux("resize-window", "-t", "w", "-x", "48", "-y", "13")
	waitFor(t, "the frame redrawn at 48x13", func() bool {
		s := screen()
		if !strings.Contains(s, "6 devices") || !strings.Contains(s, "… ") || !strings.Contains(s, "more") {
			return false
		}
		for _, l := range strings.Split(s, "\n") {
			if len([]rune(l)) > 48 {
				return false
			}
		}
		return true
	})

	// q leaves a clean terminal: main screen, cursor shown, cooked mode.
	tmux("send-keys", "-t", "w", "q")
	waitFor(t, "exit 0 after q", func() bool { return strings.Contains(screen(), "EXIT=0") })
	if f := flags(); f != "0 1" {
		t.Errorf("after q, alternate screen and cursor: %q, want off and shown", f)
	}
	if s := screen(); strings.Contains(s, "devices ·") || !strings.Contains(s, "warning: live/cohorts/broken/.u/desired:") {
		t.Errorf("the table is left on the main screen, or the warning is missing:\n%s", s)
	}
	tmux("send-keys", "-t", "w", "clear; stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo -e -icanon -e -echo", "Enter")
	waitFor(t, "stty", func() bool {
		lines := strings.Split(screen(), "\n")
		return slices.Contains(lines, "icanon") && slices.Contains(lines, "echo") &&
			!slices.Contains(lines, "-icanon") && !slices.Contains(lines, "-echo")
	})

	// Ctrl-C leaves as cleanly, with exit 130.
	tmux("send-keys", "-t", "w", "clear; "+watch, "Enter")
	waitFor(t, "the live table again", func() bool { return strings.Contains(screen(), "6 devices") })
	tmux("send-keys", "-t", "w", "C-c")
	waitFor(t, "exit 130 after Ctrl-C", func() bool { return strings.Contains(screen(), "EXIT=130") })
	if f := flags(); f != "0 1" {
		t.Errorf("after Ctrl-C, alternate screen and cursor: %q, want off and shown", f)
	}
	if s := screen(); !strings.Contains(s, "interrupted") {
		t.Errorf("screen after Ctrl-C:\n%s", s)
	}

	// So does SIGTERM, sent to otactl alone.
	tmux("send-keys", "-t", "w", "clear; "+watch, "Enter")
	waitFor(t, "the live table a third time", func() bool { return strings.Contains(screen(), "6 devices") })
	shell := strings.TrimSpace(tmux("display", "-p", "-t", "w", "#{pane_pid}"))
	out, err := exec.Command("pgrep", "-P", shell, "-x", "otactl").Output()
	if err != nil {
		t.Fatalf("pgrep otactl under the pane's shell %s: %v", shell, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("otactl's pid %q: %v", out, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "exit 130 after SIGTERM", func() bool { return strings.Contains(screen(), "EXIT=130") })
	if f := flags(); f != "0 1" {
		t.Errorf("after SIGTERM, alternate screen and cursor: %q, want off and shown", f)
	}
}
