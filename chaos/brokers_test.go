package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/childproc"
	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/syncbuf"
	"github.com/otactl/otactl/internal/testbroker"
)

// testBroker is a broker process the suite can kill and start again on the
// same data.
type testBroker interface {
	// Addr is the host:port clients connect to; it stays the same across
	// restarts.
	Addr() string
	// Kill kills the broker with SIGKILL and waits until it is gone.
	Kill()
	// Start starts it again on the same data and port, and returns once it
	// accepts connections.
	Start()
	// Stop stops it gracefully (SIGTERM).
	Stop()
	// Log is what it printed.
	Log() string
}

func brokerURL(b testBroker) string { return "mqtt://" + b.Addr() }

// startBroker starts a broker of kind (testbroker.Kinds): otactl's
// embedded broker (mochi-mqtt), run as a process of its own as `otactl
// broker`, or mosquitto. With persist its retained messages
// are kept on disk across restarts: in dataDir for the embedded broker (a
// fresh folder when empty), in mosquitto's own temporary folder for
// mosquitto (snapshots every second, its autosave_interval).
func startBroker(t *testing.T, kind string, persist bool, dataDir string) testBroker {
	t.Helper()
	switch kind {
	case testbroker.KindEmbedded:
		if persist && dataDir == "" {
			dataDir = t.TempDir()
		}
		b := &embeddedBroker{t: t, data: dataDir, log: &syncbuf.Buffer{}}
		b.Start()
		t.Cleanup(b.Stop)
		return b
	case testbroker.KindMosquitto:
		mosquitto.Require(t)
		pid := filepath.Join(t.TempDir(), "mosquitto.pid")
		m := mosquitto.Start(t, mosquitto.Config{Persist: persist, Extra: "pid_file " + pid + "\n"})
		return &mosquittoBroker{t: t, m: m, pidFile: pid}
	}
	t.Fatalf("unknown broker %q", kind)
	return nil
}

// embeddedBroker is `otactl broker` in a process of its own.
type embeddedBroker struct {
	t    *testing.T
	data string
	addr string
	log  *syncbuf.Buffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (b *embeddedBroker) Addr() string { return b.addr }
func (b *embeddedBroker) Log() string  { return b.log.String() }

func (b *embeddedBroker) Start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return
	}
	listen := b.addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	args := []string{"broker", "--listen", listen, "-o", "json"}
	if b.data != "" {
		args = append(args, "--data", b.data)
	}
	// A port just released by a killed broker can take a moment to be free
	// again: try a few times.
	var lastErr string
	for attempt := 0; attempt < 50; attempt++ {
		cmd := exec.Command(otactlBin, args...)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.t.Fatal(err)
		}
		fmt.Fprintf(b.log, "--- start %s\n", strings.Join(args, " "))
		cmd.Stderr = b.log
		if err := cmd.Start(); err != nil {
			b.t.Fatalf("start the embedded broker: %v", err)
		}
		done := make(chan struct{})
		lines := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			if sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
			for sc.Scan() {
			}
		}()
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case line, ok := <-lines:
			var out struct {
				URL string `json:"url"`
			}
			if ok && json.Unmarshal([]byte(line), &out) == nil && strings.HasPrefix(out.URL, "mqtt://") {
				b.cmd, b.done = cmd, done
				b.addr = strings.TrimPrefix(out.URL, "mqtt://")
				return
			}
			<-done
			lastErr = "it exited: " + lastLine(b.log.String())
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-done
			b.t.Fatalf("the embedded broker did not start in a minute: %s", b.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("the embedded broker would not start on %s: %s", listen, lastErr)
}

func (b *embeddedBroker) Kill() { b.end(syscall.SIGKILL) }
func (b *embeddedBroker) Stop() { b.end(syscall.SIGTERM) }

func (b *embeddedBroker) end(sig syscall.Signal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	childproc.End(b.cmd.Process, sig, b.done, 30*time.Second)
	b.cmd = nil
}

// mosquittoBroker is a mosquitto started by internal/mosquitto, killed
// through its pid file.
type mosquittoBroker struct {
	t       *testing.T
	m       *mosquitto.Broker
	pidFile string
}

func (b *mosquittoBroker) Addr() string { return b.m.Addr() }
func (b *mosquittoBroker) Log() string  { return b.m.Log() }
func (b *mosquittoBroker) Start()       { b.m.Start() }
func (b *mosquittoBroker) Stop()        { b.m.Stop() }

func (b *mosquittoBroker) Kill() {
	b.t.Helper()
	data, err := os.ReadFile(b.pidFile)
	if err != nil {
		b.t.Fatalf("mosquitto's pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		b.t.Fatalf("mosquitto's pid file holds %q", data)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		b.t.Fatalf("kill mosquitto: %v", err)
	}
	// Stop now only waits for the dead process (its signal finds nothing).
	b.m.Stop()
	_ = os.Remove(b.pidFile)
}
