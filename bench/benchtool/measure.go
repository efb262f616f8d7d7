package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// step is one command of a timed run.
type step struct {
	argv []string
	env  []string // added to the suite's environment
	// stdout, when set, is a file the command's output goes to; otherwise
	// it goes to /dev/null, for both sides alike.
	stdout string
	// exitOK lists the accepted exit codes besides 0 (`mosquitto_pub
	// --help` exits 1).
	exitOK []int
}

// sample is what one timed run measured.
type sample struct {
	wall    time.Duration
	cpu     time.Duration // user and system time of the steps and their children
	peakKiB int64         // the largest "Maximum resident set size" of its steps
}

// runner runs commands and measures them.
type runner struct {
	env     []string
	timeBin string // /usr/bin/time, or "" to read the rusage directly
	logDir  string
	verbose bool
	seq     int
	shown   map[string]bool // commands already printed
}

// run runs steps one after the other and measures the wall time from the
// first start to the last exit. With wrap, each step runs under
// `/usr/bin/time -v` and its peak memory is read from time's report;
// without, from the rusage wait4 returns (the same kernel figure, without
// the cost of one more process, which matters for millisecond commands).
func (r *runner) run(ctx context.Context, steps []step, wrap bool, timeout time.Duration) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type prepared struct {
		cmd              *exec.Cmd
		errPath, memPath string
		stdout           *os.File
		s                step
	}
	var ps []prepared
	defer func() {
		for _, p := range ps {
			if p.stdout != nil {
				p.stdout.Close()
			}
		}
	}()
	for _, s := range steps {
		r.seq++
		p := prepared{s: s, errPath: filepath.Join(r.logDir, fmt.Sprintf("%04d.stderr", r.seq))}
		argv := s.argv
		if wrap && r.timeBin != "" {
			p.memPath = filepath.Join(r.logDir, fmt.Sprintf("%04d.time", r.seq))
			argv = append([]string{r.timeBin, "-v", "-o", p.memPath}, argv...)
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(slices.Clone(r.env), s.env...)
		cmd.WaitDelay = 5 * time.Second
		if s.stdout != "" {
			f, err := os.Create(s.stdout)
			if err != nil {
				return sample{}, err
			}
			p.stdout = f
			cmd.Stdout = f
		}
		ef, err := os.Create(p.errPath)
		if err != nil {
			return sample{}, err
		}
		defer ef.Close()
		cmd.Stderr = ef
		p.cmd = cmd
		ps = append(ps, p)
		if line := shellQuote(s.argv); r.verbose && !r.shown[line] {
			if r.shown == nil {
				r.shown = map[string]bool{}
			}
			r.shown[line] = true
			fmt.Fprintf(os.Stderr, "    $ %s\n", line)
		}
	}
	var out sample
	start := time.Now()
	for _, p := range ps {
		err := p.cmd.Run()
		if err != nil && !acceptedExit(err, p.s.exitOK) {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%v)", err, ctx.Err())
			}
			return sample{}, fmt.Errorf("%s: %w%s", shellQuote(p.s.argv), err, tail(p.errPath))
		}
		peak := int64(0)
		if p.memPath != "" {
			kib, perr := parseTimeV(p.memPath)
			if perr != nil {
				return sample{}, perr
			}
			peak = kib
		} else if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = ru.Maxrss // KiB on Linux
		}
		out.peakKiB = max(out.peakKiB, peak)
		// wait4 counts the children a process reaped, so this includes
		// the command under /usr/bin/time.
		out.cpu += p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
	}
	out.wall = time.Since(start)
	return out, nil
}

func acceptedExit(err error, ok []int) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && slices.Contains(ok, ee.ExitCode())
}

// parseTimeV reads "Maximum resident set size (kbytes): N" from the report
// of `/usr/bin/time -v -o FILE`.
func parseTimeV(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "Maximum resident set size (kbytes):"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no \"Maximum resident set size\" line in /usr/bin/time's report", path)
}

// tail is the end of a command's stderr, for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	b = bytes.TrimSpace(b)
	if len(b) > 600 {
		b = append([]byte("…"), b[len(b)-600:]...)
	}
	return "\n    stderr: " + strings.ReplaceAll(string(b), "\n", "\n    stderr: ")
}

func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@,%") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// procKiB reads a figure in kB of /proc/PID/status: VmRSS, VmHWM.
func procKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no " + field + " in /proc/" + strconv.Itoa(pid) + "/status")
}

func medianF(xs []float64) float64 {
	ds := make([]time.Duration, len(xs))
	for i, x := range xs {
		ds[i] = time.Duration(x * 1000)
	}
	return float64(median(ds)) / 1000
}
