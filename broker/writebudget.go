package broker

import (
	"bytes"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// writeBudget bounds the memory of large messages being written to
// clients. mochi encodes every packet it sends into a buffer of its own, a
// copy of the payload, and holds it until the client's connection has
// taken all of it: a release of 256 KiB fetched by 5,000 devices at once
// was 5,000 copies, 1.2 GiB, while the devices read them. A write of a
// payload of largePayload bytes or more first takes its size from the
// budget, which the write gives back once done (or when its client goes);
// when the budget is spent, writes wait for it, but no longer than
// budgetWait each, so that clients that read nothing cannot hold up the
// others: the budget is a bound on memory in the usual case, not a lock.
type writeBudget struct {
	mqtt.HookBase
	limit int64
	wait  time.Duration // budgetWait; longer in tests

	mu    sync.Mutex
	used  int64
	held  map[*mqtt.Client]int64
	freed chan struct{} // closed and replaced whenever budget is given back
}

const (
	largePayload = 16 << 10
	budgetBytes  = 64 << 20
	budgetWait   = time.Second
)

func newWriteBudget(limit int64, wait time.Duration) *writeBudget {
	return &writeBudget{limit: limit, wait: wait, held: map[*mqtt.Client]int64{}, freed: make(chan struct{})}
}

func (w *writeBudget) ID() string { return "otactl-write-budget" }

func (w *writeBudget) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnPacketEncode, mqtt.OnPacketSent, mqtt.OnDisconnect}, []byte{b})
}

// OnPacketEncode runs in the goroutine that writes pk to cl, before mochi
// copies it.
func (w *writeBudget) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	n := int64(len(pk.Payload))
	if pk.FixedHeader.Type != packets.Publish || n < largePayload {
		return pk
	}
	deadline := time.Now().Add(w.wait)
	w.mu.Lock()
	w.giveBack(cl) // a write that failed never said it was done
	for w.used > 0 && w.used+n > w.limit {
		freed := w.freed
		w.mu.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 {
			w.mu.Lock()
			break
		}
		select {
		case <-freed:
		case <-time.After(wait):
		}
		w.mu.Lock()
	}
	w.used += n
	w.held[cl] += n
	w.mu.Unlock()
	return pk
}

func (w *writeBudget) OnPacketSent(cl *mqtt.Client, pk packets.Packet, b []byte) {
	if pk.FixedHeader.Type != packets.Publish || len(pk.Payload) < largePayload {
		return
	}
	w.mu.Lock()
	w.giveBack(cl)
	w.mu.Unlock()
}

func (w *writeBudget) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	w.mu.Lock()
	w.giveBack(cl)
	w.mu.Unlock()
}

// giveBack returns what cl holds to the budget; w.mu is held.
func (w *writeBudget) giveBack(cl *mqtt.Client) {
	n, ok := w.held[cl]
	if !ok {
		return
	}
	delete(w.held, cl)
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
