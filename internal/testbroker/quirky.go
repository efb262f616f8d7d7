package testbroker

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Quirks are ways a broker falls short of what otactl needs, as real
// brokers do (docs/brokers.md).
type Quirks struct {
	// NoRetainedToWildcards: retained messages are kept and sent to a
	// subscription to their exact topic, never to one with a wildcard
	// (RabbitMQ 3.10).
	NoRetainedToWildcards bool
	// RewriteDots: every '.' of a delivered topic arrives as '/'
	// (RabbitMQ 3.10: .u/c/main@1.1.0 arrives as /u/c/main@1/1/0).
	RewriteDots bool
	// DenyRead, when set, refuses reading the topics it is true for: a
	// subscription to one gets SUBACK 0x80, as an access rule makes it.
	DenyRead func(topic string) bool
}

// Quirky starts a mochi-mqtt broker in-process with quirks, on a free
// loopback port, that accepts anyone. It stops when the test ends.
func Quirky(t testing.TB, q Quirks) *Broker {
	t.Helper()
	server := mqtt.New(&mqtt.Options{
		InlineClient: false,
		Logger:       slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)),
	})
	if err := server.AddHook(&quirkHook{q: q}, nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := server.AddListener(listeners.NewNet("quirky", ln)); err != nil {
		t.Fatal(err)
	}
	if err := server.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	addr := ln.Addr().String()
	return &Broker{Name: "quirky", URL: "mqtt://" + addr, Addr: addr}
}

// quirkHook makes a mochi broker behave as Quirks say.
type quirkHook struct {
	mqtt.HookBase
	q Quirks
}

func (h *quirkHook) ID() string { return "quirks" }

func (h *quirkHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnSubscribe || b == mqtt.OnPacketEncode
}

// OnConnectAuthenticate lets anyone in; OnACLCheck lets anyone do
// anything but read what DenyRead refuses.
func (h *quirkHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *quirkHook) OnACLCheck(_ *mqtt.Client, topic string, write bool) bool {
	return write || h.q.DenyRead == nil || !h.q.DenyRead(topic)
}

// OnSubscribe asks for no retained messages on wildcard filters.
func (h *quirkHook) OnSubscribe(_ *mqtt.Client, pk packets.Packet) packets.Packet {
	if !h.q.NoRetainedToWildcards {
		return pk
	}
	for i, f := range pk.Filters {
		if strings.ContainsAny(f.Filter, "+#") {
			pk.Filters[i].RetainHandling = 2 // MQTT 5: send no retained messages
		}
	}
	return pk
}

// OnPacketEncode rewrites the topics of outgoing messages.
func (h *quirkHook) OnPacketEncode(_ *mqtt.Client, pk packets.Packet) packets.Packet {
	if h.q.RewriteDots && pk.FixedHeader.Type == packets.Publish {
		pk.TopicName = strings.ReplaceAll(pk.TopicName, ".", "/")
	}
	return pk
}
