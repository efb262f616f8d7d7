// Package testbroker starts the MQTT brokers that tests run against,
// behind one small API: the embedded broker in-process (Embedded), the
// built `otactl broker` as a process (Process), and mosquitto
// (Mosquitto); All gives one of each kind for a test that runs against
// every broker. For brokers of several nodes: a real NATS cluster with
// MQTT and JetStream (NATS) and a mosquitto edge bridged to a central
// mosquitto (MosquittoBridge). Every broker is stopped when its test ends.
package testbroker

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/upload"
)

// The kinds of broker (Broker.Name).
const (
	KindEmbedded  = "embedded"
	KindMosquitto = "mosquitto"
)

// Kinds are the kinds of broker a test runs against, for a test that
// starts a broker of each kind per subtest (Start).
var Kinds = []string{KindEmbedded, KindMosquitto}

// Broker is a running broker on a loopback port.
type Broker struct {
	// Name is the broker's kind (KindEmbedded or KindMosquitto).
	Name string
	// URL is the plain listener, mqtt://127.0.0.1:PORT; Addr is its
	// host:port.
	URL, Addr string
	// Embedded is the in-process broker (nil for mosquitto).
	Embedded *broker.Broker
	// Mosquitto is the mosquitto process (nil for the embedded broker).
	Mosquitto *mosquitto.Broker

	mu     sync.Mutex
	client *upload.Client // Publish's connection to the embedded broker
}

// Embedded starts the embedded broker in-process with cfg, on a free
// loopback port unless cfg.Listen says otherwise.
func Embedded(t testing.TB, cfg broker.Config) *Broker {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("start the embedded broker: %v", err)
	}
	tb := &Broker{Name: KindEmbedded, URL: b.URL(), Addr: b.Addr(), Embedded: b}
	t.Cleanup(func() {
		tb.closePublisher()
		b.Close()
		cancel()
	})
	return tb
}

// Mosquitto starts mosquitto with cfg. It skips the test when mosquitto
// is not installed, or fails it under OTACTL_TEST_REQUIRE_REAL=1.
func Mosquitto(t testing.TB, cfg mosquitto.Config) *Broker {
	t.Helper()
	m := mosquitto.Start(t, cfg)
	return &Broker{Name: KindMosquitto, URL: m.URL(), Addr: m.Addr(), Mosquitto: m}
}

// Start starts a broker of kind with its default configuration.
func Start(t testing.TB, kind string) *Broker {
	t.Helper()
	switch kind {
	case KindEmbedded:
		return Embedded(t, broker.Config{})
	case KindMosquitto:
		return Mosquitto(t, mosquitto.Config{})
	}
	t.Fatalf("testbroker: unknown broker kind %q", kind)
	return nil
}

// All starts one broker of each kind, for a test that runs the same
// checks against each in subtests named after b.Name (which may call
// t.Parallel: the brokers stop only once the subtests are done). When
// mosquitto is not installed the test runs against the embedded broker
// alone, unless OTACTL_TEST_REQUIRE_REAL=1 makes that a failure.
func All(t testing.TB) []*Broker {
	t.Helper()
	out := []*Broker{Start(t, KindEmbedded)}
	if !mosquitto.Available() && os.Getenv("OTACTL_TEST_REQUIRE_REAL") != "1" {
		t.Logf("mosquitto is missing (%s): testing against the embedded broker only", mosquitto.Path)
		return out
	}
	return append(out, Start(t, KindMosquitto))
}

// Each runs check against one broker of each kind (All), each in a
// subtest named after b.Name; check may call t.Parallel.
func Each(t *testing.T, check func(t *testing.T, b *Broker)) {
	t.Helper()
	for _, b := range All(t) {
		t.Run(b.Name, func(t *testing.T) { check(t, b) })
	}
}

// Publish publishes payload retained at QoS 1 on topic as a device (or
// an operator's tool) would, and returns once the broker has it; an empty
// payload clears the topic. On mosquitto it runs mosquitto_pub, as the
// issues' checks do; on the embedded broker it goes through otactl's own
// client.
func (b *Broker) Publish(t testing.TB, topic string, payload []byte) {
	t.Helper()
	if b.Mosquitto != nil {
		mosquittoPub(t, b.Addr, topic, payload)
		return
	}
	c := b.publisher(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	if len(payload) == 0 {
		err = c.Clear(ctx, topic)
	} else {
		err = c.PublishRetained(ctx, topic, payload)
	}
	if err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// publisher is the connection Publish uses on the embedded broker, made
// on first use and closed with the broker.
func (b *Broker) publisher(t testing.TB) *upload.Client {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client == nil {
		c, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL, Timeout: 20 * time.Second})
		if err != nil {
			t.Fatalf("connect %s: %v", b.URL, err)
		}
		b.client = c
	}
	return b.client
}

func (b *Broker) closePublisher() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client != nil {
		b.client.Close()
		b.client = nil
	}
}

// mosquittoPub publishes with the mosquitto_pub client.
func mosquittoPub(t testing.TB, addr, topic string, payload []byte) {
	t.Helper()
	if _, err := exec.LookPath("mosquitto_pub"); err != nil {
		if os.Getenv("OTACTL_TEST_REQUIRE_REAL") == "1" {
			t.Fatalf("mosquitto_pub is required (OTACTL_TEST_REQUIRE_REAL=1) but missing")
		}
		t.Skip("mosquitto_pub is missing")
	}
	host, port, _ := strings.Cut(addr, ":")
	args := []string{"-h", host, "-p", port, "-q", "1", "-r", "-t", topic}
	if len(payload) == 0 {
		args = append(args, "-n")
	} else {
		args = append(args, "-s")
	}
	cmd := exec.Command("mosquitto_pub", args...)
	cmd.Stdin = bytes.NewReader(payload)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub %s: %v: %s", topic, err, out)
	}
}
