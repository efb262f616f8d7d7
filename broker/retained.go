package broker

import (
	"bytes"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// retainGuard keeps mochi from reading a retained message's index entry
// while another connection writes it. mochi's TopicsIndex.scanMessages,
// which finds the retained messages a new wildcard subscription gets, reads
// each topic's retainPath without the lock RetainMessage writes it under
// (mochi-mqtt/server issue 200): a device publishing its retained report
// while an operator subscribes to devices/+/.u/c/+ is a data race, and an
// emptied topic could be read half-written.
//
// Subscriptions hold the guard shared from OnSubscribe to the end of the
// SUBSCRIBE's processing (OnPacketProcessed), which covers the scan;
// retained publishes hold it exclusively from OnPublish to OnRetainMessage,
// which covers the write. A retained will is guarded from OnWill. Left out:
// a will delayed by MQTT 5's will delay interval and mochi's own $SYS
// topics, which no device topic filter reaches.
type retainGuard struct {
	mqtt.HookBase
	mu sync.RWMutex

	heldMu sync.Mutex
	held   map[*mqtt.Client]bool // clients whose retained write holds mu
}

func newRetainGuard() *retainGuard { return &retainGuard{held: map[*mqtt.Client]bool{}} }

func (g *retainGuard) ID() string { return "otactl-retain-guard" }

func (g *retainGuard) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnSubscribe, mqtt.OnPacketProcessed, mqtt.OnPublish, mqtt.OnRetainMessage, mqtt.OnWill}, []byte{b})
}

func (g *retainGuard) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	g.mu.RLock()
	return pk
}

func (g *retainGuard) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, err error) {
	if pk.FixedHeader.Type == packets.Subscribe {
		g.mu.RUnlock()
	}
}

func (g *retainGuard) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Retain {
		g.hold(cl)
	}
	return pk, nil
}

func (g *retainGuard) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if will.Retain && will.WillDelayInterval == 0 {
		g.hold(cl)
	}
	return will, nil
}

func (g *retainGuard) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	g.heldMu.Lock()
	held := g.held[cl]
	delete(g.held, cl)
	g.heldMu.Unlock()
	if held {
		g.mu.Unlock()
	}
}

func (g *retainGuard) hold(cl *mqtt.Client) {
	g.mu.Lock()
	g.heldMu.Lock()
	g.held[cl] = true
	g.heldMu.Unlock()
}
