package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/syncbuf"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/internal/testsecrets"
)

// otactlBin is the otactl binary built once for the end-to-end tests of
// this package (see TestMain). Tests run it with runOtactl.
var otactlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "otactl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	otactlBin = filepath.Join(dir, "otactl")
	build := exec.Command("go", "build", "-race", "-o", otactlBin, "..")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building otactl:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mainMu serializes the runs of Main in the test process: urfave/cli v2
// keeps state in package variables (HelpFlag, the help command) that the
// setup of every app writes, so two Mains at once race. Tests that run
// Main in-process do it through runMain, and may still run in parallel
// with other tests; the built binary has no such limit.
var mainMu sync.Mutex

// runMain runs Main in-process, holding mainMu until it returns.
func runMain(ctx context.Context, args []string, sys *System) int {
	mainMu.Lock()
	defer mainMu.Unlock()
	return Main(ctx, args, sys)
}

// result is what a run of the otactl binary left behind.
type result struct {
	stdout, stderr string
	code           int
}

// runOtactl runs the built binary with args, in dir (when not empty), with
// the extra environment env ("K=V") and stdin, and returns its output and
// exit code; a run that takes more than five minutes fails the test. The
// environment is cleanEnv's with env after it.
func runOtactl(t *testing.T, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	return runWithin(t, 5*time.Minute, dir, env, stdin, args...)
}

// runWithin is runOtactl, failing the test if the run does not end within d.
func runWithin(t *testing.T, d time.Duration, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	return startOtactlIn(t, dir, env, strings.NewReader(stdin), args...).waitWithin(t, d)
}

// otactlCommand is the built binary ready to run with args in dir (when
// not empty), with cleanEnv's environment and env after it. Every test
// that runs the binary itself makes its command here.
func otactlCommand(ctx context.Context, t *testing.T, dir string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, otactlBin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(t), env...)
	return cmd
}

// cleanEnv is the environment of every run of the built binary: the
// test's own minus OTACTL_* variables, so a developer's settings never
// leak in, with HOME and XDG_CONFIG_HOME in a fresh temporary folder, and
// raceEnv.
func cleanEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTACTL_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), raceEnv())
}

// raceEnv is the GORACE setting of every run of the binary, which is
// built with -race: the race runtime sleeps a second at every successful
// exit (atexit_sleep_ms, to let other threads report), which took more
// than half of this package's test time. Reports of races still fail the
// run. Options the developer gave in GORACE are kept. Tests that start
// the binary through another program (a shell, tmux) pass this on.
func raceEnv() string {
	if opts := os.Getenv("GORACE"); opts != "" {
		return "GORACE=" + opts + " atexit_sleep_ms=0"
	}
	return "GORACE=atexit_sleep_ms=0"
}

// startBrokerProcess runs the built 'otactl broker --listen 127.0.0.1:0
// -o json args...' as a process of its own (see testbroker.Process).
func startBrokerProcess(t *testing.T, args ...string) *testbroker.Proc {
	t.Helper()
	return testbroker.Process(t, otactlCommand(context.Background(), t, "", nil, append([]string{"broker", "--listen", "127.0.0.1:0", "-o", "json"}, args...)...))
}

// onEveryBroker runs check against each broker testbroker.All starts, in
// parallel subtests named after the broker, with the test itself run in
// parallel with the package's other tests.
func onEveryBroker(t *testing.T, check func(t *testing.T, b *testbroker.Broker)) {
	t.Parallel()
	testbroker.Each(t, func(t *testing.T, b *testbroker.Broker) {
		t.Parallel()
		check(t, b)
	})
}

// runLabel names a run of otactl by its command words ("otactl release
// create"), without the other arguments: they may hold a secret that a
// test passes on purpose.
func runLabel(args []string) string {
	label := "otactl"
	for _, a := range args {
		if a == "" || len(label) > 40 || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz-") != "" || strings.HasPrefix(a, "-") {
			break
		}
		label += " " + a
	}
	return label
}

// requireReal skips a test whose real part (a program, a service) is
// missing, unless OTACTL_TEST_REQUIRE_REAL=1 says the suite must run it.
func requireReal(t *testing.T, what string, available bool) {
	t.Helper()
	if available {
		return
	}
	if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
		t.Fatalf("%s is required (OTACTL_TEST_REQUIRE_REAL=1) but missing", what)
	}
	t.Skipf("%s is missing", what)
}

func haveCommand(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

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
		t.Fatalf("%s: still running after %v (killed)\nstderr: %s", runLabel(r.cmd.Args[1:]), d, r.stderr)
	}
	return result{stdout: r.stdout.String(), stderr: r.stderr.String(), code: r.code}
}
