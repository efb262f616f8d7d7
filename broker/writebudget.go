package broker

import (
	"bytes"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// writeBudget bounds the memory of large retained messages on their way to
// subscribers. mochi copies a message's payload for each client it queues
// it for, and encodes it into yet another buffer when it writes it; both
// live until the client's connection has taken all of it. A release of
// 256 KiB that 5,000 devices fetch at once was 5,000 copies, over 1 GiB
// (about 237 KiB a device), while the devices read them.
//
// So a subscription to a topic (no wildcards, granted by the access rules)
// that retains largePayload bytes or more takes the message's size from
// the budget after its SUBACK is written and before mochi copies the
// message, and the size goes back once the message is written to the
// client (or dropped, or the client goes). When the budget is spent, the
// subscriber waits for it, letting go of the retain guard meanwhile so
// that publishers are not held up; when none is given back for stall, it
// goes ahead anyway, so that clients that read nothing cannot hold up the
// others: a bound on memory while the fleet makes progress, not a lock.
// Live messages, and retained ones under wildcard subscriptions, are not
// counted.
type writeBudget struct {
	mqtt.HookBase
	server *mqtt.Server
	guard  *retainGuard // held shared by a subscriber while its SUBACK is written
	limit  int64
	stall  time.Duration

	mu      sync.Mutex
	used    int64
	held    map[*mqtt.Client]map[string]int64
	pending map[*mqtt.Client][]largeRetained // granted, waiting for their SUBACK to go out
	freed   chan struct{}                    // closed and replaced whenever budget is given back
}

// largeRetained is a large message retained on a topic a client has just
// subscribed to.
type largeRetained struct {
	topic string
	size  int64
}

const (
	largePayload = 16 << 10
	budgetBytes  = 64 << 20
	budgetStall  = 5 * time.Second
)

func newWriteBudget(server *mqtt.Server, guard *retainGuard, limit int64, stall time.Duration) *writeBudget {
	return &writeBudget{server: server, guard: guard, limit: limit, stall: stall,
		held: map[*mqtt.Client]map[string]int64{}, pending: map[*mqtt.Client][]largeRetained{}, freed: make(chan struct{})}
}

func (w *writeBudget) ID() string { return "otactl-write-budget" }

func (w *writeBudget) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnSubscribed, mqtt.OnPacketSent, mqtt.OnPublishDropped, mqtt.OnDisconnect}, []byte{b})
}

// OnSubscribed runs in the subscriber's goroutine once the access rules
// have granted or refused pk's filters, before the SUBACK is written.
func (w *writeBudget) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	var large []largeRetained
	for i, sub := range pk.Filters {
		if i >= len(codes) || codes[i] >= 0x80 || strings.ContainsAny(sub.Filter, "+#") || strings.HasPrefix(sub.Filter, "$") {
			continue
		}
		if m, ok := w.server.Topics.Retained.Get(sub.Filter); ok && len(m.Payload) >= largePayload {
			large = append(large, largeRetained{sub.Filter, int64(len(m.Payload))})
		}
	}
	w.mu.Lock()
	if len(large) > 0 {
		w.pending[cl] = large
	} else {
		delete(w.pending, cl)
	}
	w.mu.Unlock()
}

// afterSuback runs once cl's SUBACK is written, before mochi queues the
// retained messages: it takes the budget for the large ones, without the
// retain guard while it waits.
func (w *writeBudget) afterSuback(cl *mqtt.Client) {
	w.mu.Lock()
	large := w.pending[cl]
	delete(w.pending, cl)
	w.mu.Unlock()
	if len(large) == 0 {
		return
	}
	w.guard.mu.RUnlock()
	defer w.guard.mu.RLock()
	for _, m := range large {
		w.take(cl, m.topic, m.size)
	}
}

// take waits for n bytes of budget for cl's message on topic.
func (w *writeBudget) take(cl *mqtt.Client, topic string, n int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.used > 0 && w.used+n > w.limit && !cl.Closed() {
		freed := w.freed
		w.mu.Unlock()
		select {
		case <-freed:
			w.mu.Lock()
			continue
		case <-time.After(w.stall):
		}
		w.mu.Lock()
		break // nothing given back for stall: go ahead
	}
	w.used += n
	if w.held[cl] == nil {
		w.held[cl] = map[string]int64{}
	}
	w.held[cl][topic] += n
}

func (w *writeBudget) OnPacketSent(cl *mqtt.Client, pk packets.Packet, b []byte) {
	switch {
	case pk.FixedHeader.Type == packets.Suback:
		w.afterSuback(cl)
	case pk.FixedHeader.Type == packets.Publish && len(pk.Payload) >= largePayload:
		w.giveBack(cl, pk.TopicName)
	}
}

func (w *writeBudget) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	w.giveBack(cl, pk.TopicName)
}

func (w *writeBudget) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	w.mu.Lock()
	delete(w.pending, cl)
	w.mu.Unlock()
	w.giveBack(cl, "")
}

// giveBack returns what cl holds for topic, or for every topic when topic
// is "".
func (w *writeBudget) giveBack(cl *mqtt.Client, topic string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	held := w.held[cl]
	if held == nil {
		return
	}
	var n int64
	if topic == "" {
		for _, v := range held {
			n += v
		}
		delete(w.held, cl)
	} else {
		n = held[topic]
		delete(held, topic)
		if len(held) == 0 {
			delete(w.held, cl)
		}
	}
	if n == 0 {
		return
	}
	w.used -= n
	close(w.freed)
	w.freed = make(chan struct{})
}

// inUse is the budget taken now, for tests.
func (w *writeBudget) inUse() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.used
}
