// Package mosquitto starts a real mosquitto broker for tests, on free
// loopback ports with a configuration written into a temporary folder.
// Tests that need it skip when mosquitto is not installed, unless
// OTACTL_TEST_REQUIRE_REAL=1 demands it.
package mosquitto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/childproc"
)

// Path is where Debian installs the broker.
const Path = "/usr/sbin/mosquitto"

// Config says how the broker runs. The zero value is one plain listener
// that accepts anyone.
type Config struct {
	// Users, when set, are the only accepted username/password pairs
	// (a password_file written with mosquitto_passwd).
	Users map[string]string
	// MessageSizeLimit, when positive, makes the broker drop larger
	// messages (while still acknowledging them).
	MessageSizeLimit int
	// CertFile and KeyFile, when set, add a TLS listener (TLSURL).
	CertFile, KeyFile string
	// CAFile with RequireClientCert demands client certificates signed by
	// it on the TLS listener.
	CAFile            string
	RequireClientCert bool
	// Websockets adds a websockets listener (WSURL).
	Websockets bool
	// Persist keeps retained messages in a file across Stop and Start.
	Persist bool
	// Extra lines appended to the configuration.
	Extra string
}

// Broker is a running (or stopped) mosquitto.
type Broker struct {
	t      testing.TB
	cfg    Config
	dir    string
	conf   string
	port   int
	tlsP   int
	wsP    int
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *bytes.Buffer
}

// Available reports whether mosquitto is installed.
func Available() bool {
	_, err := os.Stat(Path)
	return err == nil
}

// Require skips t when mosquitto is missing, or fails it when
// OTACTL_TEST_REQUIRE_REAL=1.
func Require(t testing.TB) {
	t.Helper()
	if Available() {
		return
	}
	if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
		t.Fatalf("mosquitto is required (OTACTL_TEST_REQUIRE_REAL=1) but %s is missing", Path)
	}
	t.Skipf("mosquitto is missing (%s)", Path)
}

// Start starts mosquitto with cfg and returns once it accepts connections.
// It is stopped when the test ends. Its ports are picked free; should one
// be taken before mosquitto binds it (by a test running in parallel), it
// tries again on other ports.
func Start(t testing.TB, cfg Config) *Broker {
	t.Helper()
	Require(t)
	b := &Broker{t: t, dir: t.TempDir(), cfg: cfg}
	if len(cfg.Users) > 0 {
		pw := filepath.Join(b.dir, "passwd")
		if err := os.WriteFile(pw, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for u, p := range cfg.Users {
			out, err := exec.Command("mosquitto_passwd", "-b", pw, u, p).CombinedOutput()
			if err != nil {
				t.Fatalf("mosquitto_passwd: %v: %s", err, out)
			}
		}
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	t.Cleanup(b.Stop)
	for attempt := 1; ; attempt++ {
		b.pickPorts()
		if err := os.WriteFile(b.conf, []byte(b.config()), 0o644); err != nil {
			t.Fatal(err)
		}
		b.mu.Lock()
		err := b.start()
		b.mu.Unlock()
		if err == nil {
			return b
		}
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			t.Fatal(err)
		}
	}
}

// pickPorts picks free ports for the listeners cfg asks for.
func (b *Broker) pickPorts() {
	b.port, b.tlsP, b.wsP = FreePort(b.t), 0, 0
	if b.cfg.CertFile != "" {
		b.tlsP = FreePort(b.t)
	}
	if b.cfg.Websockets {
		b.wsP = FreePort(b.t)
	}
}

// config is the configuration file for cfg on the picked ports.
func (b *Broker) config() string {
	cfg := b.cfg
	var conf strings.Builder
	fmt.Fprintf(&conf, "user %s\n", currentUser())
	conf.WriteString("per_listener_settings false\n")
	if cfg.Persist {
		fmt.Fprintf(&conf, "persistence true\npersistence_location %s/\nautosave_interval 1\n", b.dir)
	} else {
		conf.WriteString("persistence false\n")
	}
	if len(cfg.Users) > 0 {
		fmt.Fprintf(&conf, "allow_anonymous false\npassword_file %s\n", filepath.Join(b.dir, "passwd"))
	} else {
		conf.WriteString("allow_anonymous true\n")
	}
	if cfg.MessageSizeLimit > 0 {
		fmt.Fprintf(&conf, "message_size_limit %d\n", cfg.MessageSizeLimit)
	}
	fmt.Fprintf(&conf, "listener %d 127.0.0.1\n", b.port)
	if cfg.CertFile != "" {
		fmt.Fprintf(&conf, "listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n", b.tlsP, cfg.CertFile, cfg.KeyFile)
		if cfg.CAFile != "" {
			fmt.Fprintf(&conf, "cafile %s\n", cfg.CAFile)
		}
		if cfg.RequireClientCert {
			conf.WriteString("require_certificate true\n")
		}
	}
	if cfg.Websockets {
		fmt.Fprintf(&conf, "listener %d 127.0.0.1\nprotocol websockets\n", b.wsP)
	}
	conf.WriteString(cfg.Extra)
	return conf.String()
}

// Start (re)starts a stopped broker on the same ports and waits until it
// accepts connections.
func (b *Broker) Start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.start(); err != nil {
		b.t.Fatal(err)
	}
}

// errPortTaken is start's error when a listener's port was taken.
var errPortTaken = errors.New("port taken")

// start starts mosquitto, unless running, and waits for its listeners; a
// broker that exits (a port taken, a bad configuration) is an error at
// once. b.mu is held.
func (b *Broker) start() error {
	if b.cmd != nil {
		return nil
	}
	b.log = new(bytes.Buffer)
	cmd := exec.Command(Path, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.cmd, b.exited = cmd, exited
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, port := range []int{b.port, b.tlsP, b.wsP} {
		if port == 0 {
			continue
		}
		for {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-exited:
				b.cmd = nil
				if strings.Contains(b.log.String(), "Address already in use") {
					return fmt.Errorf("mosquitto exited: %w: %s", errPortTaken, b.log.String())
				}
				return fmt.Errorf("mosquitto exited: %s", b.log.String())
			case <-ctx.Done():
				return fmt.Errorf("mosquitto did not listen on %d: %s", port, b.log.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// Stop stops the broker (SIGTERM, so a persistent one saves its data).
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	childproc.End(b.cmd.Process, os.Interrupt, b.exited, 30*time.Second)
	b.cmd = nil
}

// Log is what the broker printed so far.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.log == nil {
		return ""
	}
	return b.log.String()
}

// URL is the plain listener: mqtt://127.0.0.1:PORT.
func (b *Broker) URL() string { return fmt.Sprintf("mqtt://127.0.0.1:%d", b.port) }

// Addr is the plain listener's host:port.
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// TLSURL is the TLS listener: mqtts://127.0.0.1:PORT (empty without one).
func (b *Broker) TLSURL() string {
	if b.tlsP == 0 {
		return ""
	}
	return fmt.Sprintf("mqtts://127.0.0.1:%d", b.tlsP)
}

// WSURL is the websockets listener: ws://127.0.0.1:PORT (empty without one).
func (b *Broker) WSURL() string {
	if b.wsP == 0 {
		return ""
	}
	return fmt.Sprintf("ws://127.0.0.1:%d", b.wsP)
}

// FreePort is a loopback TCP port that was free a moment ago, for a
// server a test starts (another may take it first: retry on failure).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func currentUser() string {
	if os.Geteuid() == 0 {
		return "root" // stay root: the temporary folder is not readable by others
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "mosquitto"
}
