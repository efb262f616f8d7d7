package commands

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/syncbuf"
	"github.com/otactl/otactl/internal/testbroker"
)

// fullDisk is a standard output on a full disk: every write fails.
type fullDisk struct{}

func (fullDisk) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// TestWatchStreamWriteFails: when standard output cannot be written (a
// full disk), watch stops and fails with it, exit 1, instead of following
// the fleet forever and losing every report.
func TestWatchStreamWriteFails(t *testing.T) {
	t.Parallel()
	fx := newDemoFleet(t, "full/")
	for _, format := range []string{"text", "json"} {
		sys, _, _ := watchTestSystem(watchNow)
		sys.Stdout = fullDisk{}
		opts := &watchOptions{fleetViewOptions: fleetViewOptions{Filters: fleetFilterOptions{Package: "main", Stale: time.Minute}, Output: format}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := watchRun(ctx, sys, opts, fx.dial)
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut || err == nil || err.Error() != "write standard output: no space left on device" || exitCode(context.Background(), err) != ExitError {
			t.Errorf("watch -o %s on a full disk: %v (timed out %v), want the failed write, exit 1", format, err, timedOut)
		}
	}
}

// TestSimulateEventsWriteFails: simulate -o json stops at the first event
// it cannot write and fails with it, exit 1, instead of running on for
// --for and exiting 0.
func TestSimulateEventsWriteFails(t *testing.T) {
	t.Parallel()
	b := testbroker.Embedded(t, broker.Config{})
	sys, _, errOut := fleetSystem(t, "", map[string]string{"XDG_CONFIG_HOME": t.TempDir()})
	sys.Stdout = fullDisk{}
	start := time.Now()
	code := runMain(context.Background(), []string{"otactl", "simulate", "--broker", b.URL, "--devices", "2", "--for", "60s", "-o", "json"}, sys)
	if code != ExitError || !strings.Contains(errOut.String(), "write standard output: no space left on device") || time.Since(start) > 45*time.Second {
		t.Fatalf("simulate -o json on a full disk: exit %d after %s\n%s", code, time.Since(start).Round(time.Second), errOut)
	}
}

// TestRolloutEventsWriteFails: rollout start's events that cannot be
// written (standard output a file open for reading only) do not stop the
// rollout, which runs to its end, but the command then fails with the
// write, exit 1.
func TestRolloutEventsWriteFails(t *testing.T) {
	t.Parallel()
	f := newRolloutFleet(t, testbroker.Start(t, testbroker.KindEmbedded), "fullout/", 4)
	f.release(t, "1.1.0", 200)
	path := filepath.Join(t.TempDir(), "events")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer readOnly.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := f.releases["1.1.0"]
	cmd := otactlCommand(ctx, t, f.dir, f.env, "rollout", "start", r[0], r[1], "--steps", "50%,100%", "--timeout", "90s", "-o", "json")
	var stderr syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = readOnly, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitError || !strings.Contains(stderr.String(), "write standard output: ") {
		t.Fatalf("rollout start with an unwritable standard output: %v\n%s", err, stderr.String())
	}
	if m := f.desired(t, f.op.Topics().Fleet()); m == nil || m.SequenceNumber != 200 {
		t.Fatalf("the rollout did not run to its end: fleet desired %+v\n%s", m, stderr.String())
	}
}

// TestWriteErrorKeepsTheExitCode: a wait that times out with its JSON
// document lost to a full disk still exits 5 and says it timed out, with
// the failed write after it: the command's own outcome comes first.
func TestWriteErrorKeepsTheExitCode(t *testing.T) {
	t.Parallel()
	b := testbroker.Embedded(t, broker.Config{})
	sys, _, errOut := fleetSystem(t, "", map[string]string{"XDG_CONFIG_HOME": t.TempDir()})
	sys.Stdout = fullDisk{}
	code := runMain(context.Background(), []string{"otactl", "rollout", "wait", "--broker", b.URL, "--version", "9.9.9", "--timeout", "1s", "-o", "json"}, sys)
	if code != ExitTimeout || !strings.Contains(errOut.String(), "timed out") || !strings.Contains(errOut.String(), "no space left on device") {
		t.Fatalf("rollout wait on a full disk: exit %d, want %d\n%s", code, ExitTimeout, errOut)
	}
}

// TestWatchEndsWhenItsReaderGoes: `otactl watch -o json | head -1` on a
// quiet fleet (one retained report, nothing new) ends once head has gone,
// with exit 1 and the failed write, instead of waiting for a next report
// to fail on: the built binary, its standard output a pipe whose reader
// reads one line and closes it.
func TestWatchEndsWhenItsReaderGoes(t *testing.T) {
	t.Parallel()
	b := testbroker.Start(t, testbroker.KindEmbedded)
	c := pubDial(t, b.URL)
	if err := c.PublishRetained(context.Background(), "devices/q1/.u/c/main", reportPayload(t, 0, 0, "1.0.0", "", "json", false)); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncbuf.Buffer
	cmd := otactlCommand(context.Background(), t, "", nil, "watch", "--broker", b.URL, "-o", "json")
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	line := make([]byte, 4096)
	if n, err := r.Read(line); err != nil || !strings.Contains(string(line[:n]), `"device":"q1"`) {
		t.Fatalf("first line %q, %v", line[:n], err)
	}
	r.Close() // head -1 has its line and goes
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("watch still ran 15 s after its reader went\nstderr: %s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != ExitError || !strings.Contains(stderr.String(), "write standard output: broken pipe") {
		t.Errorf("exit %d, want 1 with the failed write\nstderr: %s", code, stderr.String())
	}
}

// TestQuietSimulateIgnoresItsReaderGoing: simulate without -v or -o json
// prints only its final table on standard output, so a reader that went
// away does not stop the fleet: it runs for --for, then fails on the
// table it cannot write (exit 1).
func TestQuietSimulateIgnoresItsReaderGoing(t *testing.T) {
	t.Parallel()
	b := testbroker.Start(t, testbroker.KindEmbedded)
	var stderr syncbuf.Buffer
	cmd := otactlCommand(context.Background(), t, "", nil, "simulate", "--broker", b.URL, "--devices", "2", "--for", "2s")
	cmd.Stdout, cmd.Stderr = readerGone(t), &stderr
	start := time.Now()
	_ = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != ExitError || time.Since(start) < 2*time.Second || !strings.Contains(stderr.String(), "write standard output: broken pipe") {
		t.Errorf("exit %d after %s, want 1 after --for 2s, at the table\nstderr: %s", code, time.Since(start).Round(time.Millisecond), stderr.String())
	}
}

// readerGone is a standard output whose reader has gone: the write end of
// a pipe whose read end is closed.
func readerGone(t *testing.T) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() { w.Close() })
	return w
}

// TestReleaseCurrentEmptyComponents: release current -o json prints a
// retained manifest's empty component list as [], as release show does
// and as every list in otactl's JSON is, never null.
func TestReleaseCurrentEmptyComponents(t *testing.T) {
	t.Parallel()
	b := testbroker.Start(t, testbroker.KindEmbedded)
	if err := pubDial(t, b.URL).PublishRetained(context.Background(), ".u/desired", []byte(`{"sequenceNumber":5,"hash":"00","components":[]}`)); err != nil {
		t.Fatal(err)
	}
	r := runOtactl(t, "", nil, "", "release", "current", "--broker", b.URL, "-o", "json")
	if !strings.Contains(r.stdout, `"components":[]`) {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// TestNothingFoundHintsAtHiddenReads: a listing or a delete that finds
// nothing says the user may not be allowed to read it (mosquitto hides
// what its access rules deny), where a broker's silence could be that.
func TestNothingFoundHintsAtHiddenReads(t *testing.T) {
	t.Parallel()
	b := testbroker.Start(t, testbroker.KindEmbedded)
	for _, args := range [][]string{
		{"artifact", "list"}, {"release", "list"}, {"artifact", "delete", "none@1.0.0", "--yes"},
	} {
		r := runOtactl(t, "", nil, "", append(args, "--broker", b.URL)...)
		if r.code != 0 || !strings.Contains(r.stderr, "may not read it") {
			t.Errorf("%v: exit %d\nstderr: %s", args, r.code, r.stderr)
		}
	}
}
