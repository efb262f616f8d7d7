package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/otactl/otactl/internal/mqttwire"
)

// dialWire connects a bare MQTT client to b and returns it once the broker
// accepted it.
func dialWire(t *testing.T, b *Broker, id string, keepAlive uint16) (net.Conn, *mqttwire.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", b.Addr(), testWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testWait))
	p, err := mqttwire.AppendConnect(nil, mqttwire.Connect{ClientID: id, KeepAlive: keepAlive})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	r := mqttwire.NewReader(c, 64<<10)
	if pk, err := r.Next(); err != nil || pk.Header.Type != mqttwire.TypeConnack {
		t.Fatalf("connect %s: packet %+v, %v", id, pk.Header, err)
	}
	return c, r
}

// TestManyRetainedReachASlowReader: a subscriber to far more retained
// messages than a client's outbound queue holds gets every one of them,
// even when it reads nothing until all of them were sent (mochi dropped
// what did not fit in the queue: 30,000 of 30,000 are expected here).
func TestManyRetainedReachASlowReader(t *testing.T) {
	b := startBroker(t, Config{})
	const n = 30 * writesPending
	pub, pr := dialWire(t, b, "filler", 60)
	payload := bytes.Repeat([]byte("r"), 1000)
	var buf []byte
	for i := range n {
		qos, id := byte(0), uint16(0)
		if i == n-1 {
			qos, id = 1, 1 // its PUBACK says the broker took all before it
		}
		var err error
		buf, err = mqttwire.AppendPublishHeader(buf, fmt.Sprintf("devices/d%05d/.u/c/main", i), qos, true, id, int64(len(payload)))
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf, payload...)
		if len(buf) > 32<<10 || i == n-1 {
			if _, err := pub.Write(buf); err != nil {
				t.Fatal(err)
			}
			buf = buf[:0]
		}
	}
	pub.SetDeadline(time.Now().Add(testWait))
	if pk, err := pr.Next(); err != nil || pk.Header.Type != mqttwire.TypePuback {
		t.Fatalf("fill: packet %+v, %v", pk.Header, err)
	}

	// Subscribe, then publish a probe on a topic of the same subscription:
	// the broker handles it after the SUBSCRIBE, so it comes after every
	// retained message the subscription got. Nothing is read until both
	// are written, so the socket fills and the broker must wait.
	sub, sr := dialWire(t, b, "reader", 60)
	out := mqttwire.AppendSubscribe(nil, 1, "devices/+/.u/c/+", "probe/end")
	out, _ = mqttwire.AppendPublishHeader(out, "probe/end", 0, false, 0, 1)
	out = append(out, 'x')
	if _, err := sub.Write(out); err != nil {
		t.Fatal(err)
	}
	// The last report may come live as well as retained, or instead:
	// mochi acknowledges a publish before it retains it and hands it to
	// subscribers. So distinct topics are counted.
	seen := make(map[string]bool, n)
	got := 0
	for {
		pk, err := sr.Next()
		if err != nil {
			t.Fatalf("after %d retained messages: %v", got, err)
		}
		if pk.Header.Type != mqttwire.TypePublish {
			continue
		}
		if pk.Publish.Topic == "probe/end" {
			break
		}
		if pk.Publish.Size != int64(len(payload)) {
			t.Fatalf("message %d: %+v", got, pk.Publish)
		}
		if !seen[pk.Publish.Topic] {
			seen[pk.Publish.Topic] = true
			got++
		}
	}
	if got != n {
		t.Fatalf("the subscriber got %d of %d retained messages", got, n)
	}
}

// TestStalledReaderBlocksNoPublisher: while a subscriber waits for a
// client that reads nothing, other clients' retained publishes go through
// (the wait lets go of the retain guard), and the wait ends when that
// client's connection does.
func TestStalledReaderBlocksNoPublisher(t *testing.T) {
	b := startBroker(t, Config{})
	pub, pr := fillRetained(t, b, 30*writesPending)

	stalled, _ := dialWire(t, b, "stalled", 60)
	if _, err := stalled.Write(mqttwire.AppendSubscribe(nil, 1, "devices/+/.u/c/+")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the broker to wait for the stalled reader", func() bool { return b.guard.Waiting() == 1 })

	out, _ := mqttwire.AppendPublishHeader(nil, "devices/other/.u/c/main", 1, true, 2, 1)
	if _, err := pub.Write(append(out, 'y')); err != nil {
		t.Fatal(err)
	}
	if pk, err := pr.Next(); err != nil || pk.Header.Type != mqttwire.TypePuback {
		t.Fatalf("a retained publish while a reader is stalled: packet %+v, %v", pk.Header, err)
	}
	stalled.Close()
	waitFor(t, "the wait to end with the stalled reader's connection", func() bool { return b.guard.Waiting() == 0 })
}

// TestStalledReaderIsDisconnected: a client that takes none of its
// retained messages for one and a half times its keep alive, and keeps its
// connection open, is disconnected.
func TestStalledReaderIsDisconnected(t *testing.T) {
	b := startBroker(t, Config{})
	fillRetained(t, b, 30*writesPending)
	stalled, _ := dialWire(t, b, "stalled", 1)
	var cl *mqtt.Client
	waitFor(t, "the broker to know the client", func() bool {
		var ok bool
		cl, ok = b.server.Clients.Get("stalled")
		return ok
	})
	if _, err := stalled.Write(mqttwire.AppendSubscribe(nil, 1, "devices/+/.u/c/+")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the broker to give up on the stalled reader", cl.Closed)
	if err := cl.StopCause(); !errors.Is(err, errStalled) && !errors.Is(err, errWriteFailed) {
		t.Fatalf("the stalled reader was stopped by %v, not by the retain guard", err)
	}
}

// fillRetained publishes n retained messages of 1000 bytes, then a
// retained QoS 1 one whose PUBACK says the broker took all before it, and
// returns the publisher.
func fillRetained(t *testing.T, b *Broker, n int) (net.Conn, *mqttwire.Reader) {
	t.Helper()
	pub, pr := dialWire(t, b, "filler", 60)
	payload := bytes.Repeat([]byte("r"), 1000)
	var buf []byte
	for i := range n {
		buf, _ = mqttwire.AppendPublishHeader(buf, fmt.Sprintf("devices/d%05d/.u/c/main", i), 0, true, 0, int64(len(payload)))
		buf = append(buf, payload...)
	}
	buf, _ = mqttwire.AppendPublishHeader(buf, "devices/last/.u/c/main", 1, true, 1, 1)
	buf = append(buf, 'x')
	if _, err := pub.Write(buf); err != nil {
		t.Fatal(err)
	}
	pub.SetDeadline(time.Now().Add(testWait))
	if pk, err := pr.Next(); err != nil || pk.Header.Type != mqttwire.TypePuback {
		t.Fatalf("fill: packet %+v, %v", pk.Header, err)
	}
	return pub, pr
}

// waitFor polls ok until it holds, failing the test after testWait.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(testWait); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// TestWriteBudget: large messages are written to at most as many clients
// at once as the budget holds, the others wait for it, and every client
// gets its message whole.
func TestWriteBudget(t *testing.T) {
	const size = 8 << 20
	b := startBroker(t, Config{writeBudget: 2 * size})
	pub, pr := dialWire(t, b, "publisher", 60)
	out, _ := mqttwire.AppendPublishHeader(nil, ".u/c/main@1.1.0", 1, true, 1, size)
	out = append(out, bytes.Repeat([]byte("a"), size)...)
	if _, err := pub.Write(out); err != nil {
		t.Fatal(err)
	}
	pub.SetDeadline(time.Now().Add(testWait))
	if pk, err := pr.Next(); err != nil || pk.Header.Type != mqttwire.TypePuback {
		t.Fatalf("publish: packet %+v, %v", pk.Header, err)
	}

	// Five clients subscribe and read nothing yet: two writes fit the
	// budget and stay on the connections, which take only part of them.
	var readers []*mqttwire.Reader
	for i := range 5 {
		c, r := dialWire(t, b, fmt.Sprintf("device-%d", i), 60)
		if _, err := c.Write(mqttwire.AppendSubscribe(nil, 1, ".u/c/main@1.1.0")); err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
	}
	waitFor(t, "two writes to take the budget", func() bool { return b.budget.inUse() == 2*size })
	// Those waiting for the budget have their SUBACK (a device does not
	// time out its subscription), and they hold up no publisher.
	for i, r := range readers {
		if pk, err := r.Next(); err != nil || pk.Header.Type != mqttwire.TypeSuback {
			t.Fatalf("device-%d: packet %+v, %v; want its SUBACK", i, pk.Header, err)
		}
	}
	out, _ = mqttwire.AppendPublishHeader(nil, "devices/d1/.u/c/main", 1, true, 2, 2)
	if _, err := pub.Write(append(out, "{}"...)); err != nil {
		t.Fatal(err)
	}
	if pk, err := pr.Next(); err != nil || pk.Header.Type != mqttwire.TypePuback {
		t.Fatalf("a retained publish while subscribers wait for the budget: packet %+v, %v", pk.Header, err)
	}
	// All read now, each as the budget lets its write start: which of the
	// waiting ones goes next is the broker's choice.
	type outcome struct {
		got int64
		err error
	}
	done := make(chan outcome, len(readers))
	for _, r := range readers {
		go func() {
			for {
				pk, err := r.Next()
				if err != nil {
					done <- outcome{err: err}
					return
				}
				if pk.Header.Type == mqttwire.TypePublish {
					n, err := r.Payload(io.Discard, make([]byte, 64<<10))
					done <- outcome{n, err}
					return
				}
			}
		}()
	}
	for range readers {
		o := await(t, done, "a device got nothing")
		if o.err != nil || o.got != size {
			t.Fatalf("a device got %d of %d bytes: %v", o.got, size, o.err)
		}
		if used := b.budget.inUse(); used > 2*size {
			t.Fatalf("%d bytes of budget in use, more than the %d it has", used, 2*size)
		}
	}
	waitFor(t, "the budget to be given back", func() bool { return b.budget.inUse() == 0 })
}

// TestWriteBudgetGivenBackOnDisconnect: a client that goes before it has
// read its large message gives its share of the budget back.
func TestWriteBudgetGivenBackOnDisconnect(t *testing.T) {
	const size = 32 << 20 // more than the sockets' buffers hold
	b := startBroker(t, Config{writeBudget: size})
	pub, pr := dialWire(t, b, "publisher", 60)
	out, _ := mqttwire.AppendPublishHeader(nil, ".u/c/main@1.1.0", 1, true, 1, size)
	if _, err := pub.Write(append(out, bytes.Repeat([]byte("a"), size)...)); err != nil {
		t.Fatal(err)
	}
	pub.SetDeadline(time.Now().Add(testWait))
	if pk, err := pr.Next(); err != nil || pk.Header.Type != mqttwire.TypePuback {
		t.Fatalf("publish: packet %+v, %v", pk.Header, err)
	}
	c, _ := dialWire(t, b, "device", 60)
	if _, err := c.Write(mqttwire.AppendSubscribe(nil, 1, ".u/c/main@1.1.0")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the write to take the budget", func() bool { return b.budget.inUse() == size })
	c.Close()
	waitFor(t, "the budget to be given back", func() bool { return b.budget.inUse() == 0 })
}
