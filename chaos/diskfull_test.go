package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/otactl/otactl/internal/testbroker"
)

// TestDiskFull fills the embedded broker's data folder (a 6 MiB tmpfs
// mounted inside the test's temporary folder) with releases of a few MiB,
// each to a device of its own, then restarts the broker on the same data
// (killed, or stopped). A publish that exited 0 must find its release
// retained, complete, after the restart: a broker that cannot store a
// retained message must not acknowledge it. A publish that failed must
// leave no desired manifest without its artifact; it may exit 3, as for
// any broker that does not keep what it was sent ("published but nothing
// is retained there").
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	envv := env(t)
	rng := newRand(t)
	ta := newTally(t, "disk full on the broker's data folder", testbroker.KindEmbedded)
	ta.each(runs(2, 20), func(t *testing.T, i int) (string, []string) {
		// The first run is the reproduction of the issue: 3 and 5 MiB.
		sizes := []int{3 << 20, 5 << 20}
		if i > 0 {
			sizes = make([]int, 2+rng.IntN(2))
			for j := range sizes {
				sizes[j] = (1 << 20) + rng.IntN(4<<20)
			}
		}
		kill := i%2 == 0
		how := map[bool]string{true: "killed", false: "stopped"}[kill]
		return fmt.Sprintf("releases of %v bytes, broker %s and started again", sizes, how), diskFullRun(t, envv, rng, sizes, kill)
	})
}

// diskFullRun publishes a release of each size to a fresh broker whose
// data folder is a 6 MiB tmpfs, restarts it, and returns the invariants
// broken.
func diskFullRun(t *testing.T, envv []string, rng *rand.Rand, sizes []int, kill bool) []string {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mountTmpfs(t, data, "size=6m")

	b := startBroker(t, testbroker.KindEmbedded, true, data)
	defer b.Stop()
	var problems []string
	type published struct {
		topic string
		m     manifest
		r     result
	}
	var done []published
	for j, size := range sizes {
		pkg := fmt.Sprintf("c%d", j)
		art := writeRandom(t, rng, dir, pkg+".bin", size)
		man, m := createRelease(t, envv, dir, pkg+".json", int64(100+j), pkg+"@1.0.0="+art)
		device := fmt.Sprintf("d%d", j)
		r := runOtactl(t, envv, publishLimit, "release", "publish", man, art, "--device", device, "--broker", brokerURL(b), "--broker-timeout", "5s")
		problems = append(problems, prefixed(fmt.Sprintf("publish of %d bytes: ", size), exitProblems(r, 0, 1, 3, 5, 6))...)
		done = append(done, published{deviceTopic(device), m, r})
	}
	if kill {
		b.Kill()
	} else {
		b.Stop()
	}
	b.Start()

	topics := make([]string, len(done))
	for j, p := range done {
		topics[j] = p.topic
	}
	s, err := inspect(b.Addr(), topics...)
	if err != nil {
		return append(problems, "after the restart: "+err.Error())
	}
	problems = append(problems, prefixed("after the restart: ", s.problems)...)
	for _, p := range done {
		if p.r.code != 0 {
			continue
		}
		if msg := expectRelease(s, p.topic, p.m); msg != "" {
			problems = append(problems, fmt.Sprintf("after the restart: the publish of %s exited 0, but %s", p.m.Components[0], msg))
		}
	}
	if len(problems) > 0 {
		if log := brokerComplaints(b.Log()); log != "" {
			problems = append(problems, "the broker said: "+log)
		}
	}
	return problems
}

// mountTmpfs mounts a tmpfs with options at path (created inside a test's
// temporary folder) and unmounts it when the test ends.
func mountTmpfs(t *testing.T, path, options string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", path, "tmpfs", 0, options); err != nil {
		t.Skipf("cannot mount a tmpfs at %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(path, 0); err != nil {
			_ = syscall.Unmount(path, syscall.MNT_DETACH)
		}
	})
}

// brokerComplaints is the first few lines of a broker's log that report a
// failure.
func brokerComplaints(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
			out = append(out, l)
		}
	}
	return firstLines(strings.Join(out, "\n"), 2)
}
