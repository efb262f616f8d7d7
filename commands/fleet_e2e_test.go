package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/syncbuf"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/internal/testsecrets"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/rollout"
)

// demoDataDir finds the temporary folder a demo said it made.
var demoDataDir = regexp.MustCompile(`data in (\S+)/broker\)`)

func TestDemoEndToEnd(t *testing.T) {
	t.Parallel()
	res := runOtactl(t, "", nil, "", "demo", "--devices", "20")
	if res.code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "demo: all 20 updated: every device runs main 1.1.0") {
		t.Errorf("no 'all 20 updated' line:\n%s", res.stderr)
	}
	for _, want := range []string{
		"rolling out: to the canary, 2 of 20 devices (10%), then the fleet",
		"$ otactl rollout start release.json zephyr.signed.bin --steps 10%,100% --on-failure halt",
		"$ otactl release create -c main=zephyr.signed.bin",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	// The staged rollout's steps: the canary's gate, then the fleet's.
	for _, want := range []string{
		"stage 1/2 10%: gate passed: 2/2 updated",
		"target fleet: published .u/desired",
		"stage 2/2 100%: gate passed: 20/20 updated",
		"rollout done: release ",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
	// Not on a terminal: progress lines, never the live view's escapes.
	if strings.Contains(res.stderr, "\x1b[") {
		t.Error("escape sequences on a pipe")
	}
	m := demoDataDir.FindStringSubmatch(res.stderr)
	if m == nil {
		t.Fatalf("the demo did not say where its data is:\n%s", res.stderr)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the demo left %s behind (%v)", m[1], err)
	}
}

func TestDemoExitCodes(t *testing.T) {
	t.Parallel()
	// Every download corrupted: the canary's gate fails, and its two
	// devices get release 1.0.0 back.
	res := runOtactl(t, "", nil, "", "demo", "--devices", "10", "--fail", "integrity=100%")
	if res.code != ExitRolloutFail || !strings.Contains(res.stdout, "stage 1/2 10%: gate failed") ||
		!strings.Contains(res.stdout, "stage 1/2 10%: restored on 2 targets") || !strings.Contains(res.stderr, "demo: rollout halted: gate failed at stage 1 (10%)") {
		t.Errorf("demo with every download corrupted: exit %d, want %d\n%s\n%s", res.code, ExitRolloutFail, res.stdout, res.stderr)
	}
	res = runOtactl(t, "", nil, "", "demo", "--devices", "3", "--timeout", "1ms")
	if res.code != ExitTimeout || !strings.Contains(res.stderr, "timed out") {
		t.Errorf("demo with no time: exit %d, want %d\n%s", res.code, ExitTimeout, res.stderr)
	}
	res = runOtactl(t, "", nil, "", "demo", "--devices", "0")
	if res.code != ExitUsage {
		t.Errorf("demo --devices 0: exit %d", res.code)
	}
	res = runOtactl(t, "", nil, "", "demo", "--devices", "5", "-o", "json")
	var sum struct {
		OK      bool          `json:"ok"`
		Canary  []string      `json:"canary"`
		Rollout rollout.State `json:"rollout"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &sum); err != nil || res.code != 0 {
		t.Fatalf("demo -o json: exit %d, stdout %q: %v", res.code, res.stdout, err)
	}
	if st := sum.Rollout; !sum.OK || len(sum.Canary) != 1 || st.Status != rollout.StatusDone || len(st.Stages) != 2 || st.Stages[1].Updated != 5 {
		t.Errorf("demo -o json: %+v", sum)
	}
}

// background runs the built otactl until the test ends, then interrupts it.
func background(t *testing.T, env []string, args ...string) {
	t.Helper()
	cmd := otactlCommand(context.Background(), t, "", env, args...)
	var errOut syncbuf.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			testsecrets.Check(t, runLabel(args), errOut.String())
			if err != nil {
				t.Errorf("otactl %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("otactl %s did not stop on SIGINT", strings.Join(args, " "))
		}
	})
}

// TestSimulateWithRolloutWait is the check of issue 5: simulated devices
// against a broker, a release published by otactl, and rollout wait
// exiting 0, or 4 when every download is corrupted; against the embedded
// broker and against mosquitto.
func TestSimulateWithRolloutWait(t *testing.T) {
	t.Parallel()
	for _, kind := range testbroker.Kinds {
		for _, fc := range []struct {
			fail string
			code int
		}{{"", ExitOK}, {"integrity=100%", ExitRolloutFail}} {
			t.Run(fmt.Sprintf("%s/fail=%s", kind, fc.fail), func(t *testing.T) {
				t.Parallel()
				url := testbroker.Start(t, kind).URL
				dir := t.TempDir()
				env := []string{"OTACTL_BROKER=" + url, "XDG_CONFIG_HOME=" + filepath.Join(dir, "cfg")}
				args := []string{"simulate", "--devices", "20", "--reboot-time", "50ms", "--jitter", "500ms"}
				if fc.fail != "" {
					args = append(args, "--fail", fc.fail)
				}
				background(t, env, args...)

				img := append(release.EncodeImageHeader(release.ImageHeader{HeaderSize: 32, ImageSize: 20000, Major: 1, Minor: 1}), make([]byte, 20000)...)
				if err := os.WriteFile(filepath.Join(dir, "fw.bin"), img, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, step := range [][]string{
					{"release", "create", "-c", "main=" + filepath.Join(dir, "fw.bin"), "--out", filepath.Join(dir, "r.json")},
					{"release", "publish", filepath.Join(dir, "r.json"), filepath.Join(dir, "fw.bin")},
				} {
					if res := runOtactl(t, dir, env, "", step...); res.code != 0 {
						t.Fatalf("otactl %v: exit %d\n%s", step, res.code, res.stderr)
					}
				}
				res := runOtactl(t, dir, env, "", "rollout", "wait", "--version", "1.1.0", "--expect", "20", "--timeout", "90s")
				if res.code != fc.code {
					t.Fatalf("rollout wait: exit %d, want %d\n%s", res.code, fc.code, res.stderr)
				}
				// A device that failed before the wait began has retained
				// only awaiting retry (the failure, then idle, then idle
				// awaiting retry); one that failed during it is named with
				// its failure.
				if fc.code == ExitRolloutFail && !strings.Contains(res.stderr, "integrity check failure") && !strings.Contains(res.stderr, "awaiting retry") {
					t.Errorf("failure not named:\n%s", res.stderr)
				}
			})
		}
	}
}

// TestDemoLiveView runs the demo on a terminal (tmux) and looks at the
// live view and the summary after it.
func TestDemoLiveView(t *testing.T) {
	t.Parallel()
	code, screen, sawLive := demoOnTerminal(t, []string{"--devices", "10"}, func(screen string) bool {
		return strings.Contains(screen, "otactl watch · mqtt://127.0.0.1:") && strings.Contains(screen, "demo-0001")
	})
	if code != "0" {
		t.Errorf("demo on a terminal exited %s:\n%s", code, screen)
	}
	if !strings.Contains(screen, "demo: all 10 updated") {
		t.Errorf("no summary after the live view:\n%s", screen)
	}
	if !sawLive {
		t.Error("the live view never showed")
	}
}

// TestDemoRetryingLiveView: with failures injected, the seed the README
// names makes a device of the fleet (not of the canary) fail its first
// attempt; the live view shows the fleet stage, the gate fails at once
// (exit 4), the rollout halts and restores 1.0.0 on the devices not
// updated, and what it said follows the live view.
func TestDemoRetryingLiveView(t *testing.T) {
	t.Parallel()
	code, screen, sawLive := demoOnTerminal(t, []string{"--fail", "integrity=20%", "--seed", "1"}, func(screen string) bool {
		return strings.Contains(screen, "otactl watch · mqtt://127.0.0.1:") && strings.Contains(screen, "demo-0009")
	})
	if code != strconv.Itoa(ExitRolloutFail) {
		t.Errorf("demo on a terminal exited %s, want %d:\n%s", code, ExitRolloutFail, screen)
	}
	if !sawLive {
		t.Errorf("the live view never showed demo-0009; the screen at the end:\n%s", screen)
	}
	for _, want := range []string{"stage 2/2 100%: gate failed", "  demo-0009: awaiting-retry", "stage 2/2 100%: restored on ", "demo: rollout halted: gate failed at stage 2 (100%)"} {
		if !strings.Contains(screen, want) {
			t.Errorf("no %q after the live view:\n%s", want, screen)
		}
	}
}

// demoOnTerminal runs 'otactl demo ARGS' in a tmux terminal of 120x40 and
// returns its exit code, the screen once it has ended, and whether the
// screen, polled while it ran, ever satisfied seen.
func demoOnTerminal(t *testing.T, args []string, seen func(screen string) bool) (code, screen string, saw bool) {
	t.Helper()
	requireReal(t, "tmux", haveCommand("tmux"))
	dir := t.TempDir()
	// A server of its own, without the user's configuration.
	sock := filepath.Join(dir, "tmux.sock")
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("tmux", append([]string{"-S", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = tmux("kill-server") })
	exitFile := filepath.Join(dir, "exit")
	script := fmt.Sprintf("%s demo %s; echo $? > %s; sleep 60", otactlBin, strings.Join(args, " "), exitFile)
	if out, err := tmux("new-session", "-d", "-x", "120", "-y", "40", "-e", "XDG_CONFIG_HOME="+filepath.Join(dir, "cfg"), "-e", raceEnv(), script); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		screen, err := tmux("capture-pane", "-p")
		if err != nil {
			t.Fatalf("capture-pane: %v: %s", err, screen)
		}
		saw = saw || seen(screen)
		if b, err := os.ReadFile(exitFile); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b)), screen, saw
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not finish on the terminal:\n%s", screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrokerRulesWithMosquittoClients points a client that is not otactl
// (mosquitto_pub and mosquitto_sub) at 'otactl broker --users' as a device
// and as an operator.
func TestBrokerRulesWithMosquittoClients(t *testing.T) {
	t.Parallel()
	requireReal(t, "mosquitto clients", haveCommand("mosquitto_pub") && haveCommand("mosquitto_sub"))
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	const opsPW, devPW = "ops-pw-mosquitto-clients", "dev-pw-mosquitto-clients"
	for _, u := range []struct{ name, pw, role string }{{"ops", opsPW, "operator"}, {"dev-1", devPW, "device"}} {
		testsecrets.Register(t, "users file password of "+u.name, u.pw)
		res := runOtactl(t, dir, []string{"OTACTL_PASSWORD=" + u.pw}, "", "broker", "passwd", "--iterations", "1000", "--role", u.role, "--users", users, u.name)
		if res.code != 0 {
			t.Fatalf("passwd %s: %s", u.name, res.stderr)
		}
	}
	url, _, _ := startBrokerCommand(t, "--users", users)
	port := url[strings.LastIndex(url, ":")+1:]
	mosq := func(tool string, id, user, pw string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(tool, append([]string{"-h", "127.0.0.1", "-p", port, "-i", id, "-u", user, "-P", pw}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		return string(out), code
	}
	if out, code := mosq("mosquitto_pub", "ops-1", "ops", opsPW, "-t", ".u/desired", "-r", "-q", "1", "-m", "orig"); code != 0 {
		t.Fatalf("operator publish: exit %d %s", code, out)
	}
	if out, _ := mosq("mosquitto_sub", "dev-1", "dev-1", devPW, "-t", "#", "-C", "1", "-W", "5"); !strings.Contains(out, "denied") {
		t.Errorf("a device subscribed to '#': %q", out)
	}
	if out, code := mosq("mosquitto_pub", "dev-1", "dev-1", devPW, "-t", ".u/desired", "-r", "-q", "1", "-m", "evil"); code == 0 {
		t.Errorf("a device published a desired manifest: %q", out)
	}
	if out, code := mosq("mosquitto_pub", "dev-1", "dev-1", devPW, "-t", "devices/dev-1/.u/c/main", "-r", "-q", "1", "-m", `{"state":0,"reason":0,"version":"1.0.0"}`); code != 0 {
		t.Errorf("a device could not report: exit %d %q", code, out)
	}
	if out, code := mosq("mosquitto_sub", "dev-1", "dev-1", devPW, "-t", ".u/desired", "-C", "1", "-W", "5"); code != 0 || strings.TrimSpace(out) != "orig" {
		t.Errorf("device read of the fleet manifest: exit %d %q", code, out)
	}
	if _, code := mosq("mosquitto_sub", "dev-2", "dev-1", devPW, "-t", ".u/desired", "-C", "1", "-W", "5"); code == 0 {
		t.Error("a device connected with another device's client id")
	}
	if out, code := mosq("mosquitto_sub", "ops-2", "ops", opsPW, "-t", "devices/+/.u/c/+", "-v", "-C", "1", "-W", "5"); code != 0 || !strings.HasPrefix(out, "devices/dev-1/.u/c/main ") {
		t.Errorf("operator read of the reports: exit %d %q", code, out)
	}
}
