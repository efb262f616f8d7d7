package testbroker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/mosquitto"
)

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
		if !isPortTaken(err) || attempt == 5 {
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

// start writes every node's configuration on free ports and starts them.
func (c *NATSCluster) start(t testing.TB) error {
	c.Nodes = nil
	routes := make([]int, c.cfg.Nodes)
	for i := range routes {
		routes[i] = mosquitto.FreePort(t)
	}
	for i := range c.cfg.Nodes {
		n := &NATSNode{Name: fmt.Sprintf("n%d", i+1), mqttPort: mosquitto.FreePort(t)}
		n.Addr = fmt.Sprintf("127.0.0.1:%d", n.mqttPort)
		n.URL = "mqtt://" + n.Addr
		n.conf = c.dir + "/" + n.Name + ".conf"
		c.Nodes = append(c.Nodes, n)
	}
	for i, n := range c.Nodes {
		if err := writeConfig(n.conf, c.config(i, routes)); err != nil {
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
`, name, c.cfg.MaxPayload, 4*c.cfg.MaxPayload, c.dir+"/"+name, c.Nodes[i].Addr,
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
