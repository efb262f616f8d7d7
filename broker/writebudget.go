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
// So a subscription to a topic (no wildcards) that retains largePayload
// bytes or more first takes the message's size from the budget, before
// mochi copies it, and the size goes back once the message is written to
// the client (or dropped, or the client goes). When the budget is spent,
// subscriptions wait for it; when none is given back for stall, one goes
// ahead anyway, so that clients that read nothing cannot hold up the
// others: a bound on memory while the fleet makes progress, not a lock.
// Live messages, and retained ones under wildcard subscriptions, are not
// counted.
type writeBudget struct {
	mqtt.HookBase
	server *mqtt.Server
	limit  int64
	stall  time.Duration

	mu    sync.Mutex
	used  int64
	held  map[*mqtt.Client]map[string]int64
	freed chan struct{} // closed and replaced whenever budget is given back
}

const (
	largePayload = 16 << 10
	budgetBytes  = 64 << 20
	budgetStall  = 5 * time.Second
)

func newWriteBudget(server *mqtt.Server, limit int64, stall time.Duration) *writeBudget {
	return &writeBudget{server: server, limit: limit, stall: stall, held: map[*mqtt.Client]map[string]int64{}, freed: make(chan struct{})}
}

func (w *writeBudget) ID() string { return "otactl-write-budget" }

func (w *writeBudget) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnSubscribe, mqtt.OnPacketSent, mqtt.OnPublishDropped, mqtt.OnDisconnect}, []byte{b})
}

// OnSubscribe runs in the subscriber's goroutine before mochi looks up and
// queues the retained messages of pk's filters.
func (w *writeBudget) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	for _, sub := range pk.Filters {
		if strings.ContainsAny(sub.Filter, "+#") || strings.HasPrefix(sub.Filter, "$") {
			continue
		}
		if m, ok := w.server.Topics.Retained.Get(sub.Filter); ok && len(m.Payload) >= largePayload {
			w.take(cl, sub.Filter, int64(len(m.Payload)))
		}
	}
	return pk
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
	if pk.FixedHeader.Type == packets.Publish && len(pk.Payload) >= largePayload {
		w.giveBack(cl, pk.TopicName)
	}
}

func (w *writeBudget) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	w.giveBack(cl, pk.TopicName)
}

func (w *writeBudget) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
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
