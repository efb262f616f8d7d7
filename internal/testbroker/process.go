package testbroker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/syncbuf"

	"github.com/otactl/otactl/internal/testsecrets"
)

// Proc is the built `otactl broker` running as a process of its own, so
// that a test can kill it as a power cut would, restart it on its data,
// or read its log and its processor time.
type Proc struct {
	Broker
	t       testing.TB
	cmd     *exec.Cmd
	stdout  syncbuf.Buffer
	stderr  syncbuf.Buffer
	exited  chan struct{}
	waitErr error
}

// Process starts cmd, an `otactl broker ... --listen HOST:0 -o json`
// that the caller has prepared (binary, arguments, environment), and
// returns once it has printed its URL. When the test ends the broker is
// killed if still running, and everything it printed is checked for
// registered secrets (testsecrets).
func Process(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Broker: Broker{Name: "otactl broker"}, t: t, cmd: cmd, exited: make(chan struct{})}
	cmd.Stderr = &p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start otactl broker: %v", err)
	}
	copied := make(chan struct{})
	line := make(chan string, 1)
	go func() {
		defer close(copied)
		r := bufio.NewReader(out)
		s, _ := r.ReadString('\n')
		p.stdout.Write([]byte(s))
		line <- s
		_, _ = io.Copy(&p.stdout, r)
	}()
	go func() {
		<-copied // Wait closes the pipe: read all of it first
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.closePublisher()
		p.Kill9()
		testsecrets.Check(t, "otactl broker", p.stdout.String(), p.stderr.String())
	})
	select {
	case s := <-line:
		var info struct {
			URL string `json:"url"`
		}
		if err := json.Unmarshal([]byte(s), &info); err != nil || info.URL == "" {
			t.Fatalf("otactl broker printed %q (%v); stderr:\n%s", s, err, p.Stderr())
		}
		p.URL = info.URL
		p.Addr = strings.TrimPrefix(info.URL, "mqtt://")
	case <-time.After(time.Minute):
		t.Fatalf("otactl broker printed no URL; stderr:\n%s", p.Stderr())
	}
	return p
}

// Stderr is what the broker has logged so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Kill9 kills the broker with SIGKILL, as a power cut or the OOM killer
// would, and waits for it to be gone.
func (p *Proc) Kill9() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop stops the broker with SIGINT and fails the test unless it exits 0.
func (p *Proc) Stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		p.Kill9()
		p.t.Fatalf("otactl broker did not stop on SIGINT; stderr:\n%s", p.Stderr())
	}
	if p.waitErr != nil {
		p.t.Fatalf("otactl broker stopped with %v; stderr:\n%s", p.waitErr, p.Stderr())
	}
}

// CPU is the processor time the broker has used so far.
func (p *Proc) CPU() time.Duration {
	p.t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		p.t.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		p.t.Fatalf("/proc/%d/stat: %q", p.cmd.Process.Pid, stat)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
