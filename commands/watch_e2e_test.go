package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/internal/testsecrets"
	"github.com/otactl/otactl/report"
)

// These tests run the built binary against real brokers, with reports
// published as devices publish them: JSON with long keys, JSON with short
// keys, the Golioth SDK's CBOR, and a malformed one.

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
		b, _ := json.Marshal(map[string]any{"schema": "otactl/watch/v1", "device": device, "package": pkg, "state": state, "stateName": stateName,
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
	fx := newDemoFleet(t, "live/")

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
	watch := fmt.Sprintf("%s watch --broker %s --topic-prefix %s; echo EXIT=$?", otactlBin, fx.URL, fx.prefix)

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
	fx.pub("cohorts/broken/.u/desired", []byte("not a manifest"))
	fx.pub("devices/d2/.u/c/main", sdkPayload(t, 3, 1, "1.1.0", ""))
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
