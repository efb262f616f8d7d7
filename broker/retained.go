package broker

import (
	"bytes"
	"errors"
	"sync"
	"time"

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
//
// The guard also paces the retained messages a subscription gets (see
// retainedHigh): mochi queues them on the client's outbound queue as fast
// as it finds them and drops what does not fit, so a reader of more
// retained messages than the queue holds lost some (a reader of 50,000
// reports got 34,000 to 44,000 with mochi's queue of 8,192). While it
// waits for the client to take them, the subscriber lets go of the guard:
// its scan of the index is done, and it takes the guard again before the
// next filter's scan.
type retainGuard struct {
	mqtt.HookBase
	mu sync.RWMutex

	heldMu sync.Mutex
	held   map[*mqtt.Client]bool // clients whose retained write holds mu

	flowMu  sync.Mutex
	flows   map[*mqtt.Client]*retainFlow // subscribers being sent retained messages
	waiting int                          // subscribers waiting for their client now
}

// retainedHigh is how many retained messages a subscription may have
// queued for its client before the broker waits for the client to take
// them, down to retainedLow; both well under writesPending, the queue's
// size, so that live messages still fit beside them.
const (
	retainedHigh = writesPending / 2
	retainedLow  = writesPending / 4
)

// retainFlow counts the retained messages queued for one client and not
// yet written to its connection.
type retainFlow struct {
	queued int
	taken  chan struct{} // signalled when queued falls to retainedLow
}

func newRetainGuard() *retainGuard {
	return &retainGuard{held: map[*mqtt.Client]bool{}, flows: map[*mqtt.Client]*retainFlow{}}
}

func (g *retainGuard) ID() string { return "otactl-retain-guard" }

func (g *retainGuard) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnSubscribe, mqtt.OnPacketProcessed, mqtt.OnPublish, mqtt.OnRetainMessage, mqtt.OnWill,
		mqtt.OnRetainPublished, mqtt.OnPacketSent, mqtt.OnDisconnect}, []byte{b})
}

// OnRetainPublished runs in the subscriber's own goroutine, holding the
// guard shared, after each retained message mochi queued for it.
func (g *retainGuard) OnRetainPublished(cl *mqtt.Client, pk packets.Packet) {
	g.flowMu.Lock()
	f := g.flows[cl]
	if f == nil {
		f = &retainFlow{taken: make(chan struct{}, 1)}
		g.flows[cl] = f
	}
	f.queued++
	full := f.queued >= retainedHigh
	g.flowMu.Unlock()
	if !full {
		return
	}
	g.mu.RUnlock()
	g.setWaiting(1)
	defer func() {
		g.setWaiting(-1)
		g.mu.RLock()
	}()
	g.await(cl, f)
}

// errStalled stops a client that takes none of its retained messages for
// one and a half times its keep alive.
var errStalled = errors.New("client took no retained message for 1.5 times its keep alive")

// await waits until cl has taken its retained messages down to
// retainedLow, its connection ends or fails, or it stalls (errStalled).
// The client's own read loop is the one waiting, so it cannot see the
// connection end by itself: a failed write says so.
func (g *retainGuard) await(cl *mqtt.Client, f *retainFlow) {
	stall := time.Duration(cl.State.Keepalive) * 1500 * time.Millisecond
	last, since := -1, time.Now()
	for !cl.Closed() {
		if connFailed(cl.Net.Conn) {
			cl.Stop(errWriteFailed)
			return
		}
		g.flowMu.Lock()
		queued := f.queued
		g.flowMu.Unlock()
		if queued <= retainedLow {
			return
		}
		if queued != last {
			last, since = queued, time.Now()
		} else if stall > 0 && time.Since(since) > stall {
			cl.Stop(errStalled)
			return
		}
		select {
		case <-f.taken:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (g *retainGuard) setWaiting(d int) {
	g.flowMu.Lock()
	g.waiting += d
	g.flowMu.Unlock()
}

// Waiting is how many subscribers wait for their client to take the
// retained messages queued for it.
func (g *retainGuard) Waiting() int {
	g.flowMu.Lock()
	defer g.flowMu.Unlock()
	return g.waiting
}

// OnPacketSent counts a retained message written to a subscriber's
// connection.
func (g *retainGuard) OnPacketSent(cl *mqtt.Client, pk packets.Packet, b []byte) {
	if pk.FixedHeader.Type != packets.Publish || !pk.FixedHeader.Retain {
		return
	}
	g.flowMu.Lock()
	defer g.flowMu.Unlock()
	f := g.flows[cl]
	if f == nil || f.queued == 0 {
		return
	}
	f.queued--
	if f.queued == retainedLow {
		select {
		case f.taken <- struct{}{}:
		default:
		}
	}
}

func (g *retainGuard) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	g.flowMu.Lock()
	delete(g.flows, cl)
	g.flowMu.Unlock()
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
