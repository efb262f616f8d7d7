// Package broker runs an embedded MQTT broker (mochi-mqtt) that keeps
// retained messages for as long as it runs, for the demo, the simulator and
// tests.
package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Config says where and how the broker listens.
type Config struct {
	// Listen is the TCP address for plain MQTT, e.g. "127.0.0.1:1883";
	// port 0 picks a free port.
	Listen string
	// MaxPacket is the largest MQTT packet accepted, in bytes; 0 means the
	// protocol's own limit.
	MaxPacket uint32
	// Logger receives the broker's log; nil discards it.
	Logger *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	server *mqtt.Server
	addr   string
}

// Start starts a broker and returns once it accepts connections.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	caps := mqtt.NewDefaultServerCapabilities()
	// mochi deletes retained messages older than this; releases must stay.
	caps.MaximumMessageExpiryInterval = 0
	caps.MaximumPacketSize = cfg.MaxPacket
	server := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       logger,
		InlineClient: true,
	})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", cfg.Listen, err)
	}
	if err := server.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := server.Serve(); err != nil {
		server.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	return &Broker{server: server, addr: ln.Addr().String()}, nil
}

// Addr is the host:port the plain MQTT listener is bound to.
func (b *Broker) Addr() string { return b.addr }

// URL is the mqtt:// URL of the plain MQTT listener.
func (b *Broker) URL() string { return "mqtt://" + b.addr }

// Close stops the broker and disconnects every client.
func (b *Broker) Close() error { return b.server.Close() }
