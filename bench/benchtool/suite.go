package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// suite holds what every benchmark needs.
type suite struct {
	r      *runner
	otactl string
	broker string // HOST:PORT of the mosquitto bench/run started
	host   string
	port   string
	dir    string
	quick  bool
	runs   int // 0: each benchmark's default
	only   map[string]bool

	results []result
	out     io.Writer
}

// result is one benchmark's line.
type result struct {
	name, size string
	status     string // ok, miss, skipped, failed
	reason     string // why skipped or failed
	otactl     time.Duration
	reference  time.Duration // 0: no reference
	ratio      float64
	target     string
	peakMiB    float64
	refPeakMiB float64
	runs       int
	otactlRuns []time.Duration
	refRuns    []time.Duration
	otactlCPU  []time.Duration
	note       string
}

// benchmark is one benchmark of the suite: its name and what measures it.
type benchmark struct {
	name string
	run  func(*suite, context.Context) (result, error)
}

// benchmarks in the order they run: short ones first, the fleet last.
var benchmarks = []benchmark{
	{"startup", (*suite).startup},
	{"hash-255m", (*suite).hash255m},
	{"hash-2x255m", (*suite).hash2x255m},
	{"upload-64m", (*suite).upload64m},
	{"upload-blocks", (*suite).uploadBlocks},
	{"status-100k", (*suite).status100k},
	{"status-1m", (*suite).status1m},
	{"fleet-1k", (*suite).fleet1k},
	{"fleet-5k", (*suite).fleet5k},
	{"fleet-15k", (*suite).fleet15k},
}

// benchmarkNames are the benchmarks' names, in the order they run.
func benchmarkNames() []string {
	var names []string
	for _, b := range benchmarks {
		names = append(names, b.name)
	}
	return names
}

func suiteMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	s := &suite{out: os.Stdout}
	var only, record string
	fs.StringVar(&s.otactl, "otactl", "", "the otactl binary to measure")
	fs.StringVar(&s.broker, "broker", "", "mosquitto's address, HOST:PORT")
	fs.StringVar(&s.dir, "dir", "", "a scratch folder (large files go here)")
	fs.BoolVar(&s.quick, "quick", false, "small sizes and few runs: a smoke check in under a minute")
	fs.IntVar(&s.runs, "runs", 0, "runs per side (default: 7, quick 3; startup 51, quick 11; fleet 3, quick 1)")
	fs.StringVar(&only, "only", "", "comma-separated benchmarks to run (default: all)")
	fs.StringVar(&record, "record", "", "also write the results, the machine and the raw runs as markdown to `FILE`")
	timeBin := fs.String("time", "/usr/bin/time", "GNU time, for peak memory (\"\" reads rusage directly)")
	verbose := fs.Bool("v", true, "print every command run to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if s.otactl == "" || s.broker == "" || s.dir == "" {
		return errors.New("suite: want -otactl BIN -broker HOST:PORT -dir DIR")
	}
	var err error
	if s.host, s.port, err = net.SplitHostPort(s.broker); err != nil {
		return fmt.Errorf("suite: -broker %q: %w", s.broker, err)
	}
	if only != "" {
		s.only = map[string]bool{}
		for _, n := range strings.Split(only, ",") {
			if !slices.Contains(benchmarkNames(), n) {
				return fmt.Errorf("suite: unknown benchmark %q (have %s)", n, strings.Join(benchmarkNames(), ", "))
			}
			s.only[n] = true
		}
	}
	if *timeBin != "" {
		if _, err := os.Stat(*timeBin); err != nil {
			fmt.Fprintf(os.Stderr, "note: %s is missing: peak memory is read from rusage directly\n", *timeBin)
			*timeBin = ""
		}
	}
	for _, d := range []string{"logs", "data", "out", "config"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	s.r = &runner{env: benchEnv(s.broker, filepath.Join(s.dir, "config")), timeBin: *timeBin, logDir: filepath.Join(s.dir, "logs"), verbose: *verbose}
	if err := waitBroker(ctx, s.broker); err != nil {
		return err
	}
	m := describeMachine()
	fmt.Fprintf(os.Stderr, "machine: %s\n", m.oneLine())
	if s.quick {
		fmt.Fprintln(os.Stderr, "quick mode: small sizes and few runs, a smoke check; the names keep the full run's, the size column says what ran")
	}
	started := time.Now()
	for _, b := range benchmarks {
		if s.only != nil && !s.only[b.name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "--- %s\n", b.name)
		res := s.runOne(ctx, b)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.results = append(s.results, res)
		fmt.Fprintln(s.out, res.line())
	}
	fmt.Fprintln(s.out)
	writeTable(s.out, s.results)
	elapsed := time.Since(started)
	fmt.Fprintf(os.Stderr, "suite took %s; load average now %s\n", elapsed.Round(time.Second), loadAverage())
	if record != "" {
		if err := s.record(record, m, elapsed); err != nil {
			return err
		}
	}
	for _, r := range s.results {
		if r.status == "failed" {
			return errors.New("at least one benchmark failed (see above)")
		}
	}
	return nil
}

func (s *suite) runOne(ctx context.Context, b benchmark) result {
	res, err := b.run(s, ctx)
	res.name = b.name
	var skip *skipError
	switch {
	case errors.As(err, &skip):
		res.status, res.reason = "skipped", skip.reason
	case err != nil:
		res.status, res.reason = "failed", err.Error()
	}
	return res
}

// skipError says a benchmark cannot run yet, and why.
type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

// need returns a *skipError unless otactl has each command (a path such as
// "rollout status").
func (s *suite) need(ctx context.Context, commands ...string) error {
	var missing []string
	for _, c := range commands {
		if !s.hasCommand(ctx, c) {
			missing = append(missing, "'otactl "+c+"'")
		}
	}
	if len(missing) > 0 {
		what := "command"
		if len(missing) > 1 {
			what += "s"
		}
		return &skipError{"this otactl has no " + strings.Join(missing, ", ") + " " + what + " yet"}
	}
	return nil
}

// hasCommand asks the binary for a command's help: urfave/cli names the
// command ("otactl rollout status - ...") when it exists.
func (s *suite) hasCommand(ctx context.Context, path string) bool {
	args := append(strings.Fields(path), "--help")
	out, err := exec.CommandContext(ctx, s.otactl, args...).Output()
	return err == nil && strings.Contains(string(out), "otactl "+path+" ")
}

func (s *suite) runsOr(full, quick int) int {
	if s.runs > 0 {
		return s.runs
	}
	return quickOr(s, full, quick)
}

// quickOr is full, or quick in the quick mode.
func quickOr[T any](s *suite, full, quick T) T {
	if s.quick {
		return quick
	}
	return full
}

// comparison is otactl against a reference, alternating sides.
type comparison struct {
	size        string
	target      float64 // largest ratio otactl/reference that is ok
	memLimitMiB float64 // 0: no limit on otactl's peak
	runs        int
	warmups     int
	wrap        bool // measure memory with /usr/bin/time -v
	timeout     time.Duration
	// otactl and reference are one run's steps; i counts runs from 0,
	// warm-ups are negative.
	otactl, reference func(i int) []step
	// after, when set, runs untimed after each run of a side.
	after func(ctx context.Context, side string, i int) error
	// check, when set, runs once after the warm-ups: it proves that both
	// sides did the same work (same hash, same bytes, same count).
	check func(ctx context.Context) error
}

func (s *suite) compare(ctx context.Context, c comparison) (result, error) {
	res := result{size: c.size, target: fmt.Sprintf("%.2f", c.target), runs: c.runs}
	side := func(name string, i int) (sample, error) {
		steps := c.otactl(i)
		if name == "reference" {
			steps = c.reference(i)
		}
		smp, err := s.r.run(ctx, steps, c.wrap, c.timeout)
		if err != nil {
			return smp, fmt.Errorf("%s side: %w", name, err)
		}
		if c.after != nil {
			if err := c.after(ctx, name, i); err != nil {
				return smp, fmt.Errorf("%s side, after run: %w", name, err)
			}
		}
		return smp, nil
	}
	for w := range c.warmups {
		for _, name := range []string{"otactl", "reference"} {
			if _, err := side(name, -1-w); err != nil {
				return res, fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	if c.check != nil {
		if err := c.check(ctx); err != nil {
			return res, fmt.Errorf("check: %w", err)
		}
	}
	var peak, refPeak int64
	verbose := s.r.verbose
	defer func() { s.r.verbose = verbose }()
	for i := range c.runs {
		// The warm-ups and the first run show the commands; the others
		// differ only in topic or version names.
		s.r.verbose = verbose && i == 0
		order := []string{"otactl", "reference"}
		if i%2 == 1 {
			order = []string{"reference", "otactl"}
		}
		var line []string
		for _, name := range order {
			smp, err := side(name, i)
			if err != nil {
				return res, err
			}
			if name == "otactl" {
				res.otactlRuns = append(res.otactlRuns, smp.wall)
				res.otactlCPU = append(res.otactlCPU, smp.cpu)
				peak = max(peak, smp.peakKiB)
			} else {
				res.refRuns = append(res.refRuns, smp.wall)
				refPeak = max(refPeak, smp.peakKiB)
			}
			line = append(line, fmt.Sprintf("%s %s (cpu %s) %.1fMiB", name, secs(smp.wall), secs(smp.cpu), mib(smp.peakKiB)))
		}
		fmt.Fprintf(os.Stderr, "  run %d/%d: %s\n", i+1, c.runs, strings.Join(line, " | "))
	}
	res.otactl, res.reference = median(res.otactlRuns), median(res.refRuns)
	res.ratio = res.otactl.Seconds() / res.reference.Seconds()
	res.peakMiB, res.refPeakMiB = mib(peak), mib(refPeak)
	res.status = "ok"
	if res.ratio > c.target || (c.memLimitMiB > 0 && res.peakMiB > c.memLimitMiB) {
		res.status = "miss"
	}
	if c.memLimitMiB > 0 {
		res.note = fmt.Sprintf("peak limit %.0f MiB", c.memLimitMiB)
	}
	return res, nil
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func secs(d time.Duration) string { return fmt.Sprintf("%.4gs", d.Seconds()) }

// line is the result in the form the issue fixes:
// bench NAME otactl=SECONDS reference=SECONDS ratio=R target=T peak_mib=M ok|miss
func (r result) line() string {
	switch r.status {
	case "skipped":
		return fmt.Sprintf("bench %s skipped: %s", r.name, r.reason)
	case "failed":
		return fmt.Sprintf("bench %s failed: %s", r.name, firstLine(r.reason))
	}
	ref, ratio := "-", "-"
	if r.reference > 0 {
		ref, ratio = fmt.Sprintf("%.4g", r.reference.Seconds()), fmt.Sprintf("%.2f", r.ratio)
	}
	return fmt.Sprintf("bench %s otactl=%.4g reference=%s ratio=%s target=%s peak_mib=%.1f %s",
		r.name, r.otactl.Seconds(), ref, ratio, r.target, r.peakMiB, r.status)
}

func firstLine(s string) string {
	l, rest, _ := strings.Cut(s, "\n")
	if rest != "" {
		l += " (more above)"
	}
	return l
}

func writeTable(w io.Writer, rs []result) {
	fmt.Fprintln(w, "| bench | size | otactl s | reference s | ratio | target | otactl peak MiB | reference peak MiB | result |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rs {
		switch r.status {
		case "skipped", "failed":
			fmt.Fprintf(w, "| %s | %s | | | | | | | %s: %s |\n", r.name, r.size, r.status, mdCell(firstLine(r.reason)))
			continue
		}
		ref, ratio, refPeak := "-", "-", "-"
		if r.reference > 0 {
			ref, ratio, refPeak = fmt.Sprintf("%.4g", r.reference.Seconds()), fmt.Sprintf("%.2f", r.ratio), fmt.Sprintf("%.1f", r.refPeakMiB)
		}
		status := r.status
		if r.note != "" {
			status += " (" + r.note + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %.4g | %s | %s | %s | %.1f | %s | %s |\n",
			r.name, r.size, r.otactl.Seconds(), ref, ratio, r.target, r.peakMiB, refPeak, mdCell(status))
	}
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// benchEnv is the environment every measured command gets: the caller's,
// without otactl settings that would change what runs, plus the broker and
// a config folder of the suite's own (no user profile applies).
func benchEnv(broker, configDir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OTACTL_") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") || strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "OTACTL_BROKER=mqtt://"+broker, "XDG_CONFIG_HOME="+configDir)
}

// waitBroker waits until the broker accepts TCP connections.
func waitBroker(ctx context.Context, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("broker %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// machine is what the results were measured on.
type machine struct {
	cpus    int
	model   string
	memory  string
	kernel  string
	load    string
	openssl string
	mosq    string
	goVer   string
}

func describeMachine() machine {
	m := machine{cpus: runtime.NumCPU(), model: "unknown", memory: "unknown", load: loadAverage(), goVer: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.model = strings.TrimSpace(v)
				break
			}
		}
		if strings.Contains(string(b), " sha_ni") {
			m.model += " (sha_ni)"
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				var kib int64
				if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kib); err == nil {
					m.memory = fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	m.openssl = commandLine("openssl", "version")
	m.mosq = "mosquitto_pub (version unknown)"
	for _, l := range strings.Split(commandLine("mosquitto_pub", "--help"), "\n") {
		if strings.Contains(l, " version ") {
			m.mosq = strings.TrimSpace(l)
			break
		}
	}
	return m
}

func (m machine) oneLine() string {
	return fmt.Sprintf("%d CPUs, %s, %s RAM, Linux %s, load %s", m.cpus, m.model, m.memory, m.kernel, m.load)
}

func commandLine(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	return strings.TrimSpace(string(out))
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// record writes the results, the machine and every run's figures as
// markdown, for BENCHMARKS.md.
func (s *suite) record(path string, m machine, elapsed time.Duration) error {
	var b strings.Builder
	mode := quickOr(s, "full", "quick")
	fmt.Fprintf(&b, "Run of %s (%s mode, %s).\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), mode, elapsed.Round(time.Second))
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %s RAM, Linux %s; load average at the start %s, at the end %s.\n", m.cpus, m.model, m.memory, m.kernel, m.load, loadAverage())
	fmt.Fprintf(&b, "Tools: %s; %s; otactl built with %s.\n\n", m.openssl, m.mosq, m.goVer)
	for _, r := range s.results {
		fmt.Fprintln(&b, r.line())
	}
	b.WriteString("\n")
	writeTable(&b, s.results)
	b.WriteString("\nEvery run, in the order measured (seconds):\n\n")
	for _, r := range s.results {
		if len(r.otactlRuns) == 0 {
			continue
		}
		fmt.Fprintf(&b, "- %s: otactl %s", r.name, joinSecs(r.otactlRuns))
		if len(r.otactlCPU) > 0 {
			fmt.Fprintf(&b, " (CPU %s)", joinSecs(r.otactlCPU))
		}
		if len(r.refRuns) > 0 {
			fmt.Fprintf(&b, "; reference %s", joinSecs(r.refRuns))
		}
		if r.note != "" {
			fmt.Fprintf(&b, " (%s)", r.note)
		}
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func joinSecs(ds []time.Duration) string {
	p := make([]string, len(ds))
	for i, d := range ds {
		p[i] = fmt.Sprintf("%.4g", d.Seconds())
	}
	return strings.Join(p, " ")
}
