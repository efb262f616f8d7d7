package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// otactlBin is the otactl binary, built once by TestMain without -race so
// that the runs are as fast as a user's.
var otactlBin string

// full is true in the full mode (OTACTL_CHAOS=full): more runs of every
// scenario.
var full bool

// seed drives every random choice of the suite; OTACTL_CHAOS_SEED replays it.
var seed uint64

func TestMain(m *testing.M) {
	full = os.Getenv("OTACTL_CHAOS") == "full"
	seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("OTACTL_CHAOS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "OTACTL_CHAOS_SEED %q: want an unsigned integer\n", s)
			os.Exit(2)
		}
		seed = n
	}
	dir, err := os.MkdirTemp("", "otactl-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	otactlBin = filepath.Join(dir, "otactl")
	build := exec.Command("go", "build", "-o", otactlBin, "..")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building otactl:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runs is a scenario's run count: quick in the quick mode, else fullRuns.
func runs(quick, fullRuns int) int {
	if full {
		return fullRuns
	}
	return quick
}

// newRand is the random source of one scenario on one broker, derived from
// the suite's seed, so that OTACTL_CHAOS_SEED replays each on its own.
func newRand(t *testing.T) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	t.Logf("seed %d (replay with OTACTL_CHAOS_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// randomBetween is a duration drawn uniformly from [lo, hi).
func randomBetween(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// env is the environment of otactl runs: the test's own minus OTACTL_*
// settings, with HOME and XDG_CONFIG_HOME in a fresh folder, so that no
// developer's profile leaks in.
func env(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTACTL_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			out = append(out, kv)
		}
	}
	return append(out, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
}

// proc is a running otactl.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	started        time.Time
	done           chan struct{}
	err            error
}

// startOtactl starts otactl with args in the environment envv.
func startOtactl(t *testing.T, envv []string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(otactlBin, args...)
	p.cmd.Env = envv
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start otactl %s: %v", strings.Join(args, " "), err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// result is how a run of otactl ended.
type result struct {
	code           int // -1: killed by a signal, or hung
	hung           bool
	signal         string // the signal that killed it, if one did
	stdout, stderr string
	took           time.Duration
}

// wait waits for p to exit, at most limit. A run still going by then is a
// hang: it is killed and reported as hung.
func (p *proc) wait(limit time.Duration) result {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	r := result{}
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		r.hung = true
	}
	r.took = time.Since(p.started)
	r.stdout, r.stderr = p.stdout.String(), p.stderr.String()
	r.code = 0
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && !r.hung {
			r.signal = ws.Signal().String()
		}
	} else if p.err != nil {
		r.code = -1
	}
	if r.hung {
		r.code = -1
	}
	return r
}

// signal sends sig to p unless it has exited.
func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// publishLimit is the hard deadline of one `release publish` in the suite:
// a run still going then is a hang.
const publishLimit = 2 * time.Minute

// runOtactl runs otactl to the end (at most limit) and returns the result.
func runOtactl(t *testing.T, envv []string, limit time.Duration, args ...string) result {
	t.Helper()
	return startOtactl(t, envv, args...).wait(limit)
}

// mustOtactl runs otactl and fails the test unless it exits 0.
func mustOtactl(t *testing.T, envv []string, args ...string) result {
	t.Helper()
	r := runOtactl(t, envv, 5*time.Minute, args...)
	if r.code != 0 {
		t.Fatalf("otactl %s: %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.describe(), r.stdout, r.stderr)
	}
	return r
}

// describe says how the run ended, in a few words.
func (r result) describe() string {
	if r.hung {
		return fmt.Sprintf("hung (killed after %s)", r.took.Round(time.Millisecond))
	}
	if r.signal != "" {
		return fmt.Sprintf("killed by %s after %s", r.signal, r.took.Round(time.Millisecond))
	}
	return fmt.Sprintf("exit %d after %s", r.code, r.took.Round(time.Millisecond))
}

// summary is describe and, for a failure, the last line of its message.
func (r result) summary() string {
	if r.code == 0 || r.hung || strings.TrimSpace(r.stderr) == "" {
		return r.describe()
	}
	return fmt.Sprintf("%s: %q", r.describe(), errorLine(r.stderr))
}

// lastLine is the last non-empty line of s, for messages.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// errorLine is the last line of an otactl's stderr that is not a hint:
// the end of its error message.
func errorLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !strings.HasPrefix(lines[i], "hint: ") {
			return lines[i]
		}
	}
	return lastLine(stderr)
}

// crashed reports whether the run's stderr shows a Go panic or a fatal
// runtime error rather than a message of otactl's.
func (r result) crashed() bool {
	return strings.Contains(r.stderr, "goroutine ") && (strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "fatal error:"))
}

// writeRandom writes size random bytes, drawn from rng, to dir/name and
// returns the path.
func writeRandom(t *testing.T, rng *rand.Rand, dir, name string, size int) string {
	t.Helper()
	var key [32]byte
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	src := rand.NewChaCha8(key)
	buf := make([]byte, size)
	_, _ = src.Read(buf)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// createRelease writes a manifest for the components (PACKAGE@VERSION=FILE)
// with sequence seq, unsigned, to dir/name with `otactl release create`.
func createRelease(t *testing.T, envv []string, dir, name string, seq int64, comps ...string) (string, manifest) {
	t.Helper()
	out := filepath.Join(dir, name)
	args := []string{"release", "create", "--sequence", strconv.FormatInt(seq, 10), "--out", out}
	for _, c := range comps {
		args = append(args, "-c", c)
	}
	mustOtactl(t, envv, args...)
	return out, readManifestFile(t, out)
}
