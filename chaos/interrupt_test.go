package chaos

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/tcpproxy"
)

// How soon otactl must exit once signalled: with 130 within stopWithin;
// with 0 (it had finished) within finishedWithin, else it went on working
// and ignored the signal. A run still going after hungAfter is killed.
const (
	stopWithin     = 2 * time.Second
	finishedWithin = 500 * time.Millisecond
	hungAfter      = 10 * time.Second
)

// startupTime is about the longest otactl takes to reach its main function
// now (three times the slowest of a few runs of `otactl version`, at least
// 100 ms): a signal before that meets the Go runtime, not otactl, so the
// suite sends none earlier.
func startupTime(t *testing.T, envv []string) time.Duration {
	slowest := time.Duration(0)
	for range 5 {
		r := runOtactl(t, envv, time.Minute, "version")
		slowest = max(slowest, r.took)
	}
	return max(3*slowest, 100*time.Millisecond)
}

// TestInterrupted sends SIGINT or SIGTERM at a random point of a
// `release publish`, an `artifact download -O`, a `release create --out`,
// and of a publish whose network has stalled. otactl must exit 130 within
// stopWithin (or 0 within finishedWithin if it had already finished, and
// then its work must be complete: a later 0 means it ignored the signal),
// leave no desired manifest without its artifact, and leave no
// file half-written: the output file is absent or complete, and no
// temporary file remains beside it. The stalled publish must end on the
// signal, well before its --timeout.
func TestInterrupted(t *testing.T) {
	dir := t.TempDir()
	envv := env(t)
	rng := newRand(t)
	art := writeRandom(t, rng, dir, "main.bin", 64<<20)
	man, m := createRelease(t, envv, dir, "release.json", 100, "main@1.0.0="+art)
	// release create hashes 16 components, all this file: 1 GiB, long
	// enough to be interrupted half way.
	var comps, compFlags []string
	for i := range 16 {
		comps = append(comps, fmt.Sprintf("p%02d@1.0.0=%s", i, art))
		compFlags = append(compFlags, "-c", comps[i])
	}
	many, _ := createRelease(t, envv, dir, "many.json", 100, comps...)
	manyBytes, err := os.ReadFile(many)
	if err != nil {
		t.Fatal(err)
	}
	floor := startupTime(t, envv)
	t.Logf("signals from %s after otactl starts", floor)

	onEachBroker(t, "SIGINT or SIGTERM during a publish, download or create", func(t *testing.T, kind string, rng *rand.Rand, ta *tally) {
		// A broker that retains the artifact, for downloads.
		store := startBroker(t, kind, false, "")
		mustOtactl(t, envv, "upload", "main@1.0.0", art, "--broker", brokerURL(store))

		ops := []*interruptOp{
			{name: "release publish", run: func(t *testing.T, sig syscall.Signal, at time.Duration) (result, []string) {
				return interruptPublish(t, envv, kind, man, art, m, sig, at)
			}},
			{name: "artifact download", run: func(t *testing.T, sig syscall.Signal, at time.Duration) (result, []string) {
				out := filepath.Join(t.TempDir(), "main.bin")
				return interruptWrite(t, envv, sig, at, out, m.Components[0], "artifact", "download", "main@1.0.0", "-O", out, "--broker", brokerURL(store))
			}},
			{name: "release create", run: func(t *testing.T, sig syscall.Signal, at time.Duration) (result, []string) {
				out := filepath.Join(t.TempDir(), "release.json")
				want := component{Size: int64(len(manyBytes)), Hash: sha256Hex(manyBytes)}
				args := append([]string{"release", "create", "--sequence", "100", "--out", out}, compFlags...)
				return interruptWrite(t, envv, sig, at, out, want, args...)
			}},
		}
		// How long each takes uninterrupted: the span signals are drawn from.
		for _, op := range ops {
			r, p := op.run(t, 0, 0)
			if len(p) > 0 {
				t.Fatalf("%s, uninterrupted: %s", op.name, strings.Join(p, "; "))
			}
			op.took = r.took
			t.Logf("%s takes %s", op.name, op.took.Round(time.Millisecond))
		}

		ta.each(runs(8, 80), func(t *testing.T, i int) (string, []string) {
			sig := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}[rng.IntN(2)]
			if rng.IntN(3) == 0 {
				at := randomBetween(rng, 0, 500*time.Millisecond)
				return fmt.Sprintf("%s %s after the network stalled", sig, at.Round(time.Millisecond)),
					interruptStalled(t, envv, rng, kind, man, art, sig, at)
			}
			op := ops[rng.IntN(len(ops))]
			at := randomBetween(rng, floor, max(op.took*11/10, floor+time.Millisecond))
			_, problems := op.run(t, sig, at)
			return fmt.Sprintf("%s, %s after %s", op.name, sig, at.Round(time.Millisecond)), problems
		})
	})
}

// interruptOp is one kind of run; run sends sig at at (no signal when sig
// is 0) and returns the invariants broken.
type interruptOp struct {
	name string
	run  func(t *testing.T, sig syscall.Signal, at time.Duration) (result, []string)
	took time.Duration
}

// interrupt runs otactl with args, sends sig at at (none when sig is 0),
// and returns how it ended and what was wrong with that.
func interrupt(t *testing.T, envv []string, sig syscall.Signal, at time.Duration, args ...string) (result, []string) {
	p := startOtactl(t, envv, args...)
	if sig == 0 {
		r := p.wait(publishLimit)
		return r, exitProblems(r, 0)
	}
	time.Sleep(at) // the signal's moment: random, not a synchronisation
	r, lag := signalAndWait(p, sig)
	return r, signalProblems(r, sig, lag)
}

// signalAndWait sends sig to p and waits for it to exit; lag is how long
// it took.
func signalAndWait(p *proc, sig syscall.Signal) (result, time.Duration) {
	sent := time.Now()
	p.signal(sig)
	r := p.wait(hungAfter)
	return r, time.Since(sent)
}

// signalProblems says what is wrong with how r ended lag after sig.
func signalProblems(r result, sig syscall.Signal, lag time.Duration) []string {
	switch {
	case r.hung:
		return []string{fmt.Sprintf("still running %s after %s", hungAfter, sig)}
	case r.code == 0 && lag > finishedWithin:
		return []string{fmt.Sprintf("exit 0 %s after %s: it went on working, the signal was ignored", lag.Round(time.Millisecond), sig)}
	case r.code == 130 && lag > stopWithin:
		return []string{fmt.Sprintf("exit 130 only %s after %s, want within %s", lag.Round(time.Millisecond), sig, stopWithin)}
	}
	return exitProblems(r, 0, 130)
}

// interruptPublish interrupts a publish of man to the fleet of a fresh
// broker.
func interruptPublish(t *testing.T, envv []string, kind, man, art string, m manifest, sig syscall.Signal, at time.Duration) (result, []string) {
	b := startBroker(t, kind, false, "")
	defer b.Stop()
	r, problems := interrupt(t, envv, sig, at, "release", "publish", man, art, "--broker", brokerURL(b), "--broker-timeout", "10s")
	s, err := inspect(b.Addr(), fleetTopic)
	if err != nil {
		return r, append(problems, err.Error())
	}
	problems = append(problems, s.problems...)
	if r.code == 0 && !r.hung {
		if msg := expectRelease(s, fleetTopic, m); msg != "" {
			problems = append(problems, "the publish exited 0, but "+msg)
		}
	}
	return r, problems
}

// interruptWrite interrupts a command that writes the file out, which
// should hold want's size and hash once complete.
func interruptWrite(t *testing.T, envv []string, sig syscall.Signal, at time.Duration, out string, want component, args ...string) (result, []string) {
	r, problems := interrupt(t, envv, sig, at, args...)
	return r, append(problems, outputProblems(r, out, want)...)
}

// outputProblems checks the folder of out, which the run r wrote to: after
// exit 0 it holds out alone, complete (want's size and hash); after any
// other end, nothing: no partial file, no temporary file.
func outputProblems(r result, out string, want component) []string {
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		return []string{err.Error()}
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if r.code != 0 || r.hung {
		if len(names) > 0 {
			return []string{fmt.Sprintf("%s left %q in the output folder, want nothing", r.describe(), names)}
		}
		return nil
	}
	var problems []string
	if len(names) != 1 || names[0] != filepath.Base(out) {
		problems = append(problems, fmt.Sprintf("exit 0 left %q in the output folder, want only %s", names, filepath.Base(out)))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return append(problems, "exit 0 but "+err.Error())
	}
	if int64(len(data)) != want.Size || sha256Hex(data) != want.Hash {
		problems = append(problems, fmt.Sprintf("exit 0 but %s holds %d bytes with sha256 %.12s, want %d bytes with sha256 %.12s",
			out, len(data), sha256Hex(data), want.Size, want.Hash))
	}
	return problems
}

// interruptStalled publishes through a proxy that stalls at a random
// point, with a --timeout far longer than the test waits, and sends sig
// at after the stall: otactl must exit 130 on the signal.
func interruptStalled(t *testing.T, envv []string, rng *rand.Rand, kind, man, art string, sig syscall.Signal, at time.Duration) []string {
	b := startBroker(t, kind, false, "")
	defer b.Stop()
	px := tcpproxy.Start(t, b.Addr())
	upstream := rng.IntN(2) == 0
	after := rng.Int64N(64 << 20)
	if !upstream {
		after = rng.Int64N(4 << 10) // towards otactl: the connect, the first reads
	}
	fired := px.Arm(tcpproxy.Fault{Stall: true, Upstream: upstream, After: after})
	p := startOtactl(t, envv, "release", "publish", man, art, "--broker", px.URL(), "--broker-timeout", "5m")
	select {
	case <-fired:
	case <-p.done:
	case <-time.After(time.Minute):
	}
	time.Sleep(at) // the signal's moment: random, not a synchronisation
	r, lag := signalAndWait(p, sig)
	px.Close()
	var problems []string
	if r.code != 0 || isClosed(fired) { // else it finished before the stall point
		way := map[bool]string{true: "towards the broker", false: "towards otactl"}[upstream]
		problems = prefixed(fmt.Sprintf("stalled after %d bytes %s: ", after, way), signalProblems(r, sig, lag))
		if len(problems) == 0 && r.code != 130 {
			problems = append(problems, fmt.Sprintf("%s after %s on a stalled network, want exit 130", r.summary(), sig))
		}
	}
	s, err := inspect(b.Addr(), fleetTopic)
	if err != nil {
		return append(problems, err.Error())
	}
	return append(problems, s.problems...)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
