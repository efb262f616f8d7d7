package testbroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/syncbuf"
)

// NATSServerModule is the nats-server release the tests run against;
// scripts/test installs it with `go install NATSServerModule`.
const NATSServerModule = "github.com/nats-io/nats-server/v2@v2.15.2"

// NATSPath is where nats-server is looked for: on PATH, else in
// $(go env GOPATH)/bin, where `go install` puts it.
func NATSPath() string {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin", "nats-server")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// RequireNATS skips t when nats-server is missing, or fails it when
// OTACTL_TEST_REQUIRE_REAL=1.
func RequireNATS(t testing.TB) {
	t.Helper()
	if NATSPath() != "" {
		return
	}
	if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
		t.Fatalf("nats-server is required (OTACTL_TEST_REQUIRE_REAL=1) but missing; hint: go install %s", NATSServerModule)
	}
	t.Skipf("nats-server is missing (go install %s)", NATSServerModule)
}

// NATSConfig says how a NATS cluster runs. The zero value is three nodes,
// an 8 MB max_payload and MQTT streams replicated on every node.
type NATSConfig struct {
	// Nodes is the number of nodes (default 3).
	Nodes int
	// MaxPayload is every node's max_payload in bytes (default 8 MB;
	// NATS refuses more than 64 MB).
	MaxPayload int
	// StreamReplicas is mqtt.stream_replicas (default Nodes).
	StreamReplicas int
}

// NATSCluster is a running NATS cluster with JetStream and MQTT on every
// node, each node its own nats-server process.
type NATSCluster struct {
	Nodes []*NATSNode
	cfg   NATSConfig
	dir   string
	name  string // the cluster's name, its own: a stray route to another test's cluster is refused
}

// NATSNode is one nats-server of a NATSCluster.
type NATSNode struct {
	// Name is the node's server_name (n1, n2, ...).
	Name string
	// URL is its MQTT listener, mqtt://127.0.0.1:PORT; Addr its host:port.
	URL, Addr string

	t        testing.TB
	conf     string
	mqttPort int
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	log      syncbuf.Buffer
}

// URLs are the MQTT listeners of every node, in order.
func (c *NATSCluster) URLs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.URL
	}
	return out
}

// NATS starts a NATS cluster with cfg and returns once it has a JetStream
// leader and every node keeps and serves a retained MQTT message. It skips
// the test when nats-server is missing (RequireNATS). Every node is killed
// when the test ends. A cluster takes a few seconds to start: a test
// binary should start one and share it between its checks (subtests).
func NATS(t testing.TB, cfg NATSConfig) *NATSCluster {
	t.Helper()
	RequireNATS(t)
	if cfg.Nodes <= 0 {
		cfg.Nodes = 3
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 8 << 20
	}
	if cfg.StreamReplicas <= 0 {
		cfg.StreamReplicas = cfg.Nodes
	}
	c := &NATSCluster{cfg: cfg, dir: t.TempDir(), name: "otactl-" + randomSuffix()}
	for attempt := 1; ; attempt++ {
		err := c.start(t)
		if err == nil {
			break
		}
		c.killAll()
		if !errors.Is(err, errNATSPortTaken) || attempt == 5 {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.killAll)
	if err := c.awaitReady(2 * time.Minute); err != nil {
		c.killAll()
		t.Fatalf("nats cluster not ready: %v\n%s", err, c.Logs())
	}
	return c
}

var errNATSPortTaken = errors.New("port taken")

// start writes every node's configuration on free ports and starts them.
func (c *NATSCluster) start(t testing.TB) error {
	c.Nodes = nil
	routes := make([]int, c.cfg.Nodes)
	for i := range routes {
		routes[i] = freeTCPPort(t)
	}
	for i := range c.cfg.Nodes {
		n := &NATSNode{Name: fmt.Sprintf("n%d", i+1), t: t, mqttPort: freeTCPPort(t)}
		n.Addr = fmt.Sprintf("127.0.0.1:%d", n.mqttPort)
		n.URL = "mqtt://" + n.Addr
		n.conf = filepath.Join(c.dir, n.Name+".conf")
		c.Nodes = append(c.Nodes, n)
	}
	for i, n := range c.Nodes {
		if err := os.WriteFile(n.conf, []byte(c.config(i, routes)), 0o644); err != nil {
			return err
		}
		if err := n.start(); err != nil {
			return err
		}
	}
	return nil
}

// config is node i's configuration; routes are every node's cluster port.
func (c *NATSCluster) config(i int, routes []int) string {
	var urls []string
	for j, p := range routes {
		if j != i {
			urls = append(urls, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
		}
	}
	name := fmt.Sprintf("n%d", i+1)
	return fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:-1
max_payload: %d
max_pending: %d
jetstream { store_dir: %q }
mqtt { listen: %q, stream_replicas: %d }
cluster {
  name: %s
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, name, c.cfg.MaxPayload, 4*c.cfg.MaxPayload, filepath.Join(c.dir, name), c.Nodes[i].Addr,
		c.cfg.StreamReplicas, c.name, routes[i], strings.Join(urls, ", "))
}

// awaitReady waits until every node keeps a retained message and serves it
// back: the MQTT streams exist only once JetStream has a leader.
func (c *NATSCluster) awaitReady(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for _, n := range c.Nodes {
		if err := awaitRetainedRoundTrip(ctx, n.URL, func() error { return n.exitErr() }); err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	return nil
}

// awaitRetainedRoundTrip publishes a retained message on url, reads it
// back and clears it, retrying until that works or ctx ends; dead reports a
// broker process that has exited.
func awaitRetainedRoundTrip(ctx context.Context, url string, dead func() error) error {
	topic := ".u/testbroker/ready/" + randomSuffix()
	var last error
	for {
		if err := dead(); err != nil {
			return err
		}
		if last = publishRetained(ctx, url, topic, "ready"); last == nil {
			short, cancel := context.WithTimeout(ctx, 5*time.Second)
			last = awaitRetained(short, url, topic, "ready")
			cancel()
			if last == nil {
				return publishRetained(ctx, url, topic, "")
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no retained round trip: %w", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Logs are what every node printed so far, each under its name.
func (c *NATSCluster) Logs() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "--- %s\n%s", n.Name, n.Log())
	}
	return b.String()
}

func (c *NATSCluster) killAll() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

// start starts the node's process unless it runs, and waits until its MQTT
// port accepts connections.
func (n *NATSNode) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return nil
	}
	cmd := exec.Command(NATSPath(), "-c", n.conf)
	cmd.Stdout, cmd.Stderr = &n.log, &n.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	n.cmd, n.exited = cmd, exited
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", n.Addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-exited:
			n.cmd = nil
			if strings.Contains(n.log.String(), "address already in use") {
				return fmt.Errorf("nats-server %s exited: %w: %s", n.Name, errNATSPortTaken, n.log.String())
			}
			return fmt.Errorf("nats-server %s exited: %s", n.Name, n.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server %s did not listen on %s: %s", n.Name, n.Addr, n.log.String())
		}
	}
}

// exitErr is an error once the node's process has exited.
func (n *NATSNode) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return errors.New("not running")
	}
	select {
	case <-n.exited:
		return fmt.Errorf("nats-server %s exited: %s", n.Name, n.log.String())
	default:
		return nil
	}
}

// Kill kills the node with SIGKILL, as a power cut would, and waits for it
// to be gone. Its data stays: Restart starts it again on it.
func (n *NATSNode) Kill() { n.signal(syscall.SIGKILL) }

// Stop stops the node with SIGTERM (lame duck: its clients are moved
// off first) and waits for it to be gone.
func (n *NATSNode) Stop() { n.signal(syscall.SIGTERM) }

func (n *NATSNode) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(sig)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
	n.cmd = nil
}

// Restart starts a stopped or killed node again on its data and ports, and
// waits until it keeps and serves a retained message.
func (n *NATSNode) Restart() {
	n.t.Helper()
	if err := n.start(); err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := awaitRetainedRoundTrip(ctx, n.URL, n.exitErr); err != nil {
		n.t.Fatalf("nats-server %s after restart: %v\n%s", n.Name, err, n.Log())
	}
}

// Log is what the node printed so far.
func (n *NATSNode) Log() string { return n.log.String() }

func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
