package testbroker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/tcpproxy"
)

// BridgeTopics are the bridge's topic lines that carry otactl's protocol
// between an edge mosquitto (where devices connect) and a central one
// (where otactl publishes), for the topic prefix P: every release topic
// and the fleet's desired manifest in, the cohorts' and devices' desired
// manifests in, the devices' state reports out. A plain `devices/# out`
// with `.u/# in` never brings `devices/{id}/.u/desired` to the edge.
func BridgeTopics(prefix string) []string {
	lines := []string{
		".u/# in 1",
		"cohorts/+/.u/desired in 1",
		"devices/+/.u/desired in 1",
		"devices/+/.u/c/+ out 1",
	}
	if prefix == "" {
		return lines
	}
	for i, l := range lines {
		// topic PATTERN DIRECTION QOS LOCAL-PREFIX REMOTE-PREFIX
		lines[i] = fmt.Sprintf("%s %s %s", l, prefix, prefix)
	}
	return lines
}

// BridgeConfig says how a bridged pair of mosquittos runs. The zero value
// bridges BridgeTopics("") with no size limits.
type BridgeConfig struct {
	// Topics are the bridge's topic lines (default BridgeTopics("")).
	Topics []string
	// EdgeMessageSizeLimit and CentralMessageSizeLimit are each broker's
	// message_size_limit when positive.
	EdgeMessageSizeLimit, CentralMessageSizeLimit int
}

// Bridge is a mosquitto edge bridged to a central mosquitto through a
// proxy that can cut the link.
type Bridge struct {
	// Central is where otactl publishes; Edge is where devices connect.
	Central, Edge *Broker
	// Link is the proxy the edge's bridge connects through.
	Link *tcpproxy.Proxy
}

// MosquittoBridge starts a central mosquitto and an edge mosquitto bridged
// to it with cfg, and returns once a retained message published on the
// central broker has reached the edge. It skips the test when mosquitto
// is missing (or fails it under OTACTL_TEST_REQUIRE_REAL=1). Both stop
// when the test ends.
func MosquittoBridge(t testing.TB, cfg BridgeConfig) *Bridge {
	t.Helper()
	topics := cfg.Topics
	if len(topics) == 0 {
		topics = BridgeTopics("")
	}
	central := Mosquitto(t, mosquitto.Config{MessageSizeLimit: cfg.CentralMessageSizeLimit})
	link := tcpproxy.Start(t, central.Addr)
	conf := fmt.Sprintf("connection central\naddress %s\n", link.Addr())
	for _, l := range topics {
		conf += "topic " + l + "\n"
	}
	// cleansession: after a reconnection the bridge subscribes afresh and
	// gets every retained message again; try_private marks the bridge so
	// that the central broker does not loop messages back; a quick
	// restart_timeout for tests that cut the link.
	conf += "cleansession true\ntry_private true\nnotifications false\nrestart_timeout 1\nbridge_protocol_version mqttv311\n"
	edge := Mosquitto(t, mosquitto.Config{MessageSizeLimit: cfg.EdgeMessageSizeLimit, Extra: conf})
	b := &Bridge{Central: central, Edge: edge, Link: link}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.awaitLink(ctx); err != nil {
		t.Fatalf("mosquitto bridge: %v\nedge log:\n%s", err, edge.Mosquitto.Log())
	}
	return b
}

// awaitLink waits until a retained message published on the central
// broker is served by the edge, and clears it.
func (b *Bridge) awaitLink(ctx context.Context) error {
	topic := ".u/testbroker/bridge/" + randomSuffix()
	if err := publishRetained(ctx, b.Central.URL, topic, "up"); err != nil {
		return err
	}
	defer func() { _ = publishRetained(context.Background(), b.Central.URL, topic, "") }()
	return awaitRetained(ctx, b.Edge.URL, topic, "up")
}

// Cut cuts the bridge: the link's connections are closed and new ones
// refused until Restore.
func (b *Bridge) Cut() {
	b.Link.SetDown(true)
	b.Link.CutAll()
}

// Restore lets the bridge connect again, and waits until it carries a
// retained message from the central broker to the edge again.
func (b *Bridge) Restore(t testing.TB) {
	t.Helper()
	b.Link.SetDown(false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.awaitLink(ctx); err != nil {
		t.Fatalf("mosquitto bridge after Restore: %v", err)
	}
}

// URLs are the endpoints: the central broker first, then the edge.
func (b *Bridge) URLs() []string { return []string{b.Central.URL, b.Edge.URL} }
