package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/otactl/otactl/release"
)

const (
	kib = 1 << 10
	mb  = 1 << 20
	gib = 1 << 30
)

// dataFile returns the path of a generated file of size bytes in the
// scratch folder, writing it the first time.
func (s *suite) dataFile(ctx context.Context, name string, size int64) (string, error) {
	p := filepath.Join(s.dir, "data", name)
	if st, err := os.Stat(p); err == nil && st.Size() == size {
		return p, nil
	}
	start := time.Now()
	if err := genFile(ctx, p, size); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "  wrote %s (%s) in %s\n", p, humanSize(size), secs(time.Since(start)))
	return p, nil
}

func humanSize(n int64) string {
	switch {
	case n >= gib && n%gib == 0:
		return fmt.Sprintf("%d GiB", n/gib)
	case n >= mb && n%mb == 0:
		return fmt.Sprintf("%d MiB", n/mb)
	case n >= kib && n%kib == 0:
		return fmt.Sprintf("%d KiB", n/kib)
	}
	return fmt.Sprintf("%d B", n)
}

// runLabel names run i in topics and versions: r0, r1, ... and w1, w2 for
// warm-ups.
func runLabel(i int) string {
	if i < 0 {
		return fmt.Sprintf("w%d", -i)
	}
	return fmt.Sprintf("r%d", i)
}

func (s *suite) mosq(tool string, args ...string) []string {
	return append([]string{tool, "-h", s.host, "-p", s.port}, args...)
}

// startup: `otactl version` against `mosquitto_pub --help`, both to
// /dev/null: the cost of starting the program. Measured without
// /usr/bin/time, whose own start would be a large share of a few
// milliseconds; the peak memory comes from wait4's rusage.
func (s *suite) startup(ctx context.Context) (result, error) {
	return s.compare(ctx, comparison{
		size:    "-",
		target:  3,
		runs:    s.runsOr(51, 11),
		warmups: 3,
		timeout: 30 * time.Second,
		otactl: func(int) []step {
			return []step{{argv: []string{s.otactl, "version"}}}
		},
		reference: func(int) []step {
			return []step{{argv: []string{"mosquitto_pub", "--help"}, exitOK: []int{1}}}
		},
	})
}

// hash-255m: `otactl release create` of one component against
// `openssl dgst -sha256` of the same file, from the page cache. 255 MiB is
// about the largest component one MQTT message can carry
// (release.MaxComponentSize), so the largest otactl accepts.
func (s *suite) hash255m(ctx context.Context) (result, error) {
	size := quickOr(s, int64(255*mb), 64*mb)
	f, err := s.dataFile(ctx, "hash-255m.bin", size)
	if err != nil {
		return result{}, err
	}
	return s.hashCompare(ctx, "hash-255m", []string{f}, humanSize(size), 1.10)
}

// hash-2x255m: two components against openssl hashing both files one
// after the other; otactl hashes them in parallel.
func (s *suite) hash2x255m(ctx context.Context) (result, error) {
	size := quickOr(s, int64(255*mb), 64*mb)
	var files []string
	for _, n := range []string{"a", "b"} {
		f, err := s.dataFile(ctx, "hash-2x-"+n+".bin", size)
		if err != nil {
			return result{}, err
		}
		files = append(files, f)
	}
	res, err := s.hashCompare(ctx, "hash-2x255m", files, "2 x "+humanSize(size), 0.65)
	if err == nil {
		// Parallel hashing needs a second idle core: say how much of one
		// it got, so that a miss on a busy machine reads as such.
		var par []float64
		for i, w := range res.otactlRuns {
			par = append(par, res.otactlCPU[i].Seconds()/w.Seconds())
		}
		slices.Sort(par)
		res.note = fmt.Sprintf("otactl ran on %.2f cores (CPU/wall, median)", par[len(par)/2])
	}
	return res, err
}

func (s *suite) hashCompare(ctx context.Context, name string, files []string, size string, target float64) (result, error) {
	manifest := filepath.Join(s.dir, "out", name+".json")
	digests := filepath.Join(s.dir, "out", name+".openssl")
	return s.compare(ctx, comparison{
		size:    size,
		target:  target,
		runs:    s.runsOr(7, 3),
		warmups: 1, // reads every file into the page cache for both sides
		wrap:    true,
		timeout: 5 * time.Minute,
		otactl: func(i int) []step {
			argv := []string{s.otactl, "release", "create", "--sequence", "1", "--out", manifest}
			for k, f := range files {
				argv = append(argv, "-c", fmt.Sprintf("c%d@1.0.0=%s", k, f))
			}
			return []step{{argv: argv}}
		},
		reference: func(i int) []step {
			st := step{argv: append([]string{"openssl", "dgst", "-sha256"}, files...)}
			if i < 0 {
				st.stdout = digests
			}
			return []step{st}
		},
		check: func(context.Context) error { return checkHashes(manifest, digests, files) },
	})
}

// checkHashes proves both sides hashed the same bytes: the manifest's
// component hashes are openssl's digests.
func checkHashes(manifest, digests string, files []string) error {
	b, err := os.ReadFile(manifest)
	if err != nil {
		return err
	}
	var m struct {
		Components []struct {
			Package string `json:"package"`
			Hash    string `json:"hash"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", manifest, err)
	}
	o, err := os.ReadFile(digests)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(o)), "\n")
	if len(lines) != len(files) || len(m.Components) != len(files) {
		return fmt.Errorf("%d openssl lines and %d components for %d files", len(lines), len(m.Components), len(files))
	}
	for k, l := range lines {
		i := strings.LastIndex(l, "= ")
		if i < 0 {
			return fmt.Errorf("openssl printed %q", l)
		}
		want := strings.TrimSpace(l[i+2:])
		if got := m.Components[k].Hash; got != want {
			return fmt.Errorf("%s: otactl says %s, openssl %s", files[k], got, want)
		}
	}
	return nil
}

// upload-64m: `otactl upload` (which publishes retained at QoS 1 and reads
// the message back) against `mosquitto_pub -q 1 -r -f` then
// `mosquitto_sub -C 1` of the same topic. Every run uses a topic of its
// own, cleared afterwards, so neither side finds the bytes already there.
func (s *suite) upload64m(ctx context.Context) (result, error) {
	if err := s.need(ctx, "upload"); err != nil {
		return result{}, err
	}
	size := quickOr(s, int64(64*mb), 16*mb)
	f, err := s.dataFile(ctx, "upload.bin", size)
	if err != nil {
		return result{}, err
	}
	topic := func(side string, i int) string {
		if side == "otactl" {
			return ".u/c/bench@" + runLabel(i)
		}
		return ".u/c/ref@" + runLabel(i)
	}
	readback := filepath.Join(s.dir, "out", "upload.readback")
	res, err := s.compare(ctx, comparison{
		size:        humanSize(size),
		target:      1.25,
		memLimitMiB: 2 * float64(size) / mb,
		runs:        s.runsOr(7, 3),
		warmups:     1,
		wrap:        true,
		timeout:     2 * time.Minute,
		otactl: func(i int) []step {
			return []step{{argv: []string{s.otactl, "upload", "bench@" + runLabel(i), f}}}
		},
		reference: func(i int) []step {
			t := topic("reference", i)
			return []step{
				{argv: s.mosq("mosquitto_pub", "-q", "1", "-r", "-f", f, "-t", t)},
				{argv: s.mosq("mosquitto_sub", "-t", t, "-C", "1", "-W", "60")},
			}
		},
		after: func(ctx context.Context, side string, i int) error {
			t := topic(side, i)
			if i < 0 {
				// Both sides left the file's exact bytes retained.
				if _, err := s.r.run(ctx, []step{{argv: s.mosq("mosquitto_sub", "-t", t, "-C", "1", "-W", "30", "-N"), stdout: readback}}, false, time.Minute); err != nil {
					return err
				}
				if err := sameFile(readback, f); err != nil {
					return fmt.Errorf("retained on %s: %w", t, err)
				}
			}
			_, err := s.r.run(ctx, []step{{argv: s.mosq("mosquitto_pub", "-r", "-n", "-q", "1", "-t", t)}}, false, time.Minute)
			return err
		},
	})
	if err != nil {
		return res, err
	}
	// The floor: the same work by a client that streams (benchtool
	// rawupload), for BENCHMARKS.md's analysis of a miss.
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	var walls []time.Duration
	var peak int64
	for i := range 3 {
		t := ".u/c/floor@" + runLabel(i)
		smp, err := s.r.run(ctx, []step{{argv: []string{self, "rawupload", "-broker", s.broker, "-topic", t, f}}}, true, 2*time.Minute)
		if err != nil {
			return res, fmt.Errorf("floor: %w", err)
		}
		walls, peak = append(walls, smp.wall), max(peak, smp.peakKiB)
		if _, err := s.r.run(ctx, []step{{argv: s.mosq("mosquitto_pub", "-r", "-n", "-q", "1", "-t", t)}}, false, time.Minute); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(os.Stderr, "  floor (benchtool rawupload, streaming): %s median, %.1f MiB peak\n", secs(median(walls)), mib(peak))
	res.note += fmt.Sprintf("; streaming floor %.3g s, %.1f MiB", median(walls).Seconds(), mib(peak))
	return res, nil
}

func sameFile(got, want string) error {
	g, err := fileSum(got)
	if err != nil {
		return err
	}
	w, err := fileSum(want)
	if err != nil {
		return err
	}
	if g != w {
		return fmt.Errorf("read back %s, want %s", g, w)
	}
	return nil
}

func fileSum(p string) (string, error) {
	h, n, err := release.HashFile(context.Background(), p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d bytes sha256 %s", n, h), nil
}

// fleet-1k: 1,000 simulated devices (`otactl simulate`, one MQTT client
// each) against mosquitto update from a 256 KiB artifact. Timed: from
// `otactl release publish` until `otactl rollout wait` has seen every
// device updated. Every run has a topic prefix of its own and a fresh
// simulator, whose peak memory is reported.
func (s *suite) fleet1k(ctx context.Context) (result, error) {
	res, _, cmdPeak, err := s.fleetBench(ctx, "bench-fleet", quickOr(s, 1000, 50), s.runsOr(3, 1), 2*time.Minute)
	if err != nil {
		return res, err
	}
	res.target = "20"
	if res.otactl > 20*time.Second || res.peakMiB > 1024 {
		res.status = "miss"
	}
	res.note = fmt.Sprintf("peak is the simulator's, limit 1024 MiB; publish and wait peaked at %.1f MiB", mib(cmdPeak))
	return res, nil
}

// fleet-15k: 15,000 simulated devices (`otactl simulate`, one light MQTT
// connection each, connecting at the default ramp of 500 a second) against
// mosquitto update from a 256 KiB artifact. Timed as fleet-1k, from
// `otactl release publish` until `otactl rollout wait --expect 15000` has
// seen every device updated (0 lost); the simulator's peak memory over
// the whole run, updates included, must stay within 40 KB a device
// (600,000 KiB).
func (s *suite) fleet15k(ctx context.Context) (result, error) {
	n := quickOr(s, 15000, 500)
	res, peak, _, err := s.fleetBench(ctx, "bench-fleet15k", n, s.runsOr(1, 1), 4*time.Minute)
	if err != nil {
		return res, err
	}
	res.target = "120"
	if res.otactl > 120*time.Second || peak > 40*int64(n) {
		res.status = "miss"
	}
	res.note = fmt.Sprintf("peak is the simulator's over the whole run: %.1f KiB a device, limit 40", float64(peak)/float64(n))
	return res, nil
}

// fleetBench runs a fleet benchmark of n devices, runs times, each with the
// topic prefix name-I/: the result with the median time ("ok" until the
// caller judges it), and the peaks in KiB of the simulator and of publish
// and wait.
func (s *suite) fleetBench(ctx context.Context, name string, n, runs int, wait time.Duration) (result, int64, int64, error) {
	if err := s.need(ctx, "simulate", "release publish", "rollout wait"); err != nil {
		return result{}, 0, 0, err
	}
	art, err := s.dataFile(ctx, "fleet-main.bin", 256*kib)
	if err != nil {
		return result{}, 0, 0, err
	}
	res := result{size: fmt.Sprintf("%d devices, 256 KiB", n), runs: runs, status: "ok"}
	var peak, cmdPeak int64
	for i := range res.runs {
		r, err := s.fleetRun(ctx, fleetSpec{prefix: fmt.Sprintf("%s-%d/", name, i), run: i, devices: n, wait: wait}, art)
		if err != nil {
			return res, 0, 0, err
		}
		fmt.Fprintf(os.Stderr, "  run %d/%d: %d devices ready in %s; publish to all updated %s; simulator peak %.1fMiB (%.1f KiB a device); otactl peak %.1fMiB\n",
			i+1, res.runs, n, secs(r.ready), secs(r.wall), mib(r.simPeakKiB), float64(r.simPeakKiB)/float64(n), mib(r.cmdPeakKiB))
		res.otactlRuns = append(res.otactlRuns, r.wall)
		peak = max(peak, r.simPeakKiB)
		cmdPeak = max(cmdPeak, r.cmdPeakKiB)
	}
	res.otactl = median(res.otactlRuns)
	res.peakMiB = mib(peak)
	return res, peak, cmdPeak, nil
}

type fleetSample struct {
	ready, wall            time.Duration
	simPeakKiB, cmdPeakKiB int64
}

// fleetSpec is one run of a fleet benchmark: its topic prefix, its number
// (for log names), its devices and how long a rollout may take.
type fleetSpec struct {
	prefix  string
	run     int
	devices int
	wait    time.Duration
	// host and port are the broker's when not the suite's mosquitto
	// (fleet-5k starts its own).
	host, port string
}

func (s *suite) fleetRun(ctx context.Context, spec fleetSpec, art string) (fleetSample, error) {
	var out fleetSample
	prefix, i, n := spec.prefix, spec.run, spec.devices
	host, port := s.host, s.port
	if spec.port != "" {
		host, port = spec.host, spec.port
	}
	env := []string{"OTACTL_TOPIC_PREFIX=" + prefix, "OTACTL_BROKER=mqtt://" + net.JoinHostPort(host, port)}
	sim, err := s.startSimulator(ctx, prefix, n, env)
	if err != nil {
		return out, err
	}
	defer sim.stop()

	start := time.Now()
	if _, err := s.r.run(ctx, []step{{argv: []string{"mosquitto_sub", "-h", host, "-p", port, "-t", prefix + "devices/+/.u/c/main", "-C", fmt.Sprint(n), "-W", "180"}}}, false, 4*time.Minute); err != nil {
		return out, fmt.Errorf("waiting for %d simulated devices to report: %w%s", n, err, sim.tail())
	}
	out.ready = time.Since(start)

	rel := filepath.Join(s.dir, "out", fmt.Sprintf("fleet-%d.json", i))
	if _, err := s.r.run(ctx, []step{{argv: []string{s.otactl, "release", "create", "-c", "main@1.1.0=" + art, "--sequence", fmt.Sprint(1000 + i), "--out", rel}}}, false, time.Minute); err != nil {
		return out, err
	}
	smp, err := s.r.run(ctx, []step{
		{argv: []string{s.otactl, "release", "publish", rel, art}, env: env},
		{argv: []string{s.otactl, "rollout", "wait", "--version", "1.1.0", "--package", "main", "--expect", fmt.Sprint(n), "--timeout", spec.wait.String()}, env: env},
	}, true, spec.wait+time.Minute)
	if err != nil {
		return out, fmt.Errorf("%w%s", err, sim.tail())
	}
	out.wall, out.cmdPeakKiB = smp.wall, smp.peakKiB
	if out.simPeakKiB, err = sim.stop(); err != nil {
		return out, err
	}
	return out, nil
}

// simulator is a running `otactl simulate`, in a process group of its own
// so that SIGINT reaches it and not /usr/bin/time (which ignores it).
type simulator struct {
	cmd      *exec.Cmd
	memPath  string
	errPath  string
	done     chan error
	stopped  bool
	peakKiB  int64
	stopErr  error
	usesTime bool
}

func (s *suite) startSimulator(ctx context.Context, prefix string, n int, env []string) (*simulator, error) {
	name := strings.TrimSuffix(strings.TrimPrefix(prefix, "bench-"), "/")
	sim := &simulator{
		memPath: filepath.Join(s.r.logDir, name+"-simulator.time"),
		errPath: filepath.Join(s.r.logDir, name+"-simulator.stderr"),
		done:    make(chan error, 1),
	}
	argv := []string{s.otactl, "simulate", "--devices", fmt.Sprint(n), "--package", "main", "--version", "1.0.0"}
	if s.r.verbose {
		fmt.Fprintf(os.Stderr, "    $ %s &\n", shellQuote(argv))
	}
	if s.r.timeBin != "" {
		sim.usesTime = true
		argv = append([]string{s.r.timeBin, "-v", "-o", sim.memPath}, argv...)
	}
	ef, err := os.Create(sim.errPath)
	if err != nil {
		return nil, err
	}
	defer ef.Close()
	sim.cmd = exec.Command(argv[0], argv[1:]...)
	sim.cmd.Env = append(append([]string{}, s.r.env...), env...)
	sim.cmd.Stdout, sim.cmd.Stderr = ef, ef
	sim.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sim.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { sim.done <- sim.cmd.Wait() }()
	go func() {
		select {
		case <-ctx.Done():
			sim.signal(syscall.SIGINT)
		case <-sim.done:
			sim.done <- nil
		}
	}()
	return sim, nil
}

func (sim *simulator) signal(sig syscall.Signal) {
	// The group's id is the simulator's (or time's) own pid: Setpgid.
	_ = syscall.Kill(-sim.cmd.Process.Pid, sig)
}

// stop interrupts the simulator, waits for it and returns its peak memory.
func (sim *simulator) stop() (int64, error) {
	if sim.stopped {
		return sim.peakKiB, sim.stopErr
	}
	sim.stopped = true
	sim.signal(syscall.SIGINT)
	select {
	case <-sim.done:
	case <-time.After(30 * time.Second):
		sim.signal(syscall.SIGKILL)
		<-sim.done
		sim.stopErr = fmt.Errorf("otactl simulate did not stop within 30s of SIGINT%s", sim.tail())
		return 0, sim.stopErr
	}
	if sim.usesTime {
		sim.peakKiB, sim.stopErr = parseTimeV(sim.memPath)
	} else if ru, ok := sim.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		sim.peakKiB = ru.Maxrss
	}
	return sim.peakKiB, sim.stopErr
}

func (sim *simulator) tail() string {
	t := tail(sim.errPath)
	return strings.Replace(t, "stderr:", "simulator stderr:", -1)
}
