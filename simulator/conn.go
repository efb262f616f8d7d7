package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otactl/otactl/internal/mqttwire"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// transport is a device's MQTT connection: everything the device logic
// (device.go, update.go) needs of it, so that the decisions stay in one
// place whatever carries the bytes. Its methods are called from the
// device's goroutine only; inbox, take and done may be used beside them.
type transport interface {
	// subscribe asks for QoS 0 on filters and waits for the SUBACK; a
	// filter the broker refused is a *refusedError. Messages on them are
	// queued for take.
	subscribe(ctx context.Context, filters ...string) error
	// publishRetained publishes a retained QoS 1 message and waits for its
	// PUBACK.
	publishRetained(ctx context.Context, topic string, payload []byte) error
	// download subscribes to topics, streams the payload of the first
	// non-empty message on any of them, as it arrives, into the writer to
	// returns for its topic, and unsubscribes. It returns that topic and
	// the bytes written; errNothingRetained when ctx ended first.
	download(ctx context.Context, to func(topic string) io.Writer, topics ...string) (string, int64, error)
	// inbox receives a value when take has messages.
	inbox() <-chan struct{}
	// take returns the queued messages of the subscribed topics, oldest
	// first, and empties the queue.
	take() []upload.Message
	// done is closed when the connection has ended; err then says why.
	done() <-chan struct{}
	err() error
	// close ends the connection (DISCONNECT first when it is up).
	close()
}

// errNothingRetained is a download that ended before a message came.
var errNothingRetained = errors.New("nothing arrived")

// refusedError is a subscription the broker refused (SUBACK 0x80).
type refusedError struct{ filter string }

func (e *refusedError) Error() string { return "the broker refused the subscription to " + e.filter }

// The light connection's sizes. A device receives small manifests and
// streams artifacts: a small read buffer is enough.
const (
	readBufferSize = 2 << 10
	// maxQueued bounds the messages waiting for the device: a device
	// that falls further behind drops its connection and connects anew,
	// getting the retained state afresh.
	maxQueued = 64
	// keepAlive is what a device asks for in CONNECT; the shared keeper
	// pings a connection idle for three quarters of it.
	keepAlive = 60 * time.Second
)

// copyBuffers are the buffers artifacts are streamed through, shared by
// the fleet: only a device downloading holds one.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}

// lightConn is a minimal MQTT 3.1.1 client for one device (on
// internal/mqttwire): one goroutine reads, the device's goroutine writes,
// the fleet's keeper pings. It holds a small read buffer and the few
// manifests not yet taken; artifacts stream through without being held.
type lightConn struct {
	nc     net.Conn
	pr     *mqttwire.Reader
	ep     *endpoint
	keeper *keeper
	stats  *Stats

	wmu      sync.Mutex // one packet written at a time
	lastW    atomic.Int64
	lastR    atomic.Int64
	nextID   uint16 // the device goroutine's only
	acks     chan ack
	closed   chan struct{}
	closeErr error // set before closed is closed

	mu     sync.Mutex
	topics map[string]bool // the subscribed desired topics
	queue  []upload.Message
	dl     *streamTo // the download in progress
	notify chan struct{}
	once   sync.Once
}

// ack is an acknowledgement read: its packet identifier and, for a
// SUBACK, the return codes.
type ack struct {
	id    uint16
	codes []byte
}

// streamTo is where the payload on one of topics goes, and where the
// result is sent once it has.
type streamTo struct {
	topics []string
	to     func(topic string) io.Writer
	result chan streamResult
}

func (s *streamTo) wants(topic string) bool {
	for _, t := range s.topics {
		if t == topic {
			return true
		}
	}
	return false
}

type streamResult struct {
	topic string
	n     int64
	err   error
}

// dialLight connects to ep as clientID and waits for the CONNACK.
func dialLight(ctx context.Context, ep *endpoint, k *keeper, stats *Stats, clientID, username, password string) (*lightConn, error) {
	dctx, cancel := context.WithTimeout(ctx, ep.timeout)
	defer cancel()
	nc, err := ep.dial(dctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, upload.ConnectFailure(ep.url, 0, err)
	}
	c := &lightConn{nc: nc, ep: ep, keeper: k, stats: stats, acks: make(chan ack, 4), closed: make(chan struct{}),
		topics: map[string]bool{}, notify: make(chan struct{}, 1)}
	c.pr = mqttwire.NewReader(nc, readBufferSize)
	stop := context.AfterFunc(dctx, func() { nc.Close() })
	rc, err := c.handshake(clientID, username, password)
	stop()
	if err == nil && rc != 0 {
		err = upload.ConnectFailure(ep.url, rc, nil)
	} else if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		} else {
			err = upload.ConnectFailure(ep.url, 0, err)
		}
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.lastR.Store(time.Now().UnixNano())
	go c.readLoop()
	k.add(c)
	return c, nil
}

func (c *lightConn) handshake(clientID, username, password string) (byte, error) {
	if password != "" && username == "" {
		username = clientID
	}
	pkt, err := mqttwire.AppendConnect(nil, mqttwire.Connect{ClientID: clientID, Username: username, Password: password, KeepAlive: uint16(keepAlive / time.Second)})
	if err != nil {
		return 0, err
	}
	if err := c.write(pkt); err != nil {
		return 0, err
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.ep.timeout))
	p, err := c.pr.Next()
	_ = c.nc.SetReadDeadline(time.Time{})
	if err != nil {
		return 0, err
	}
	if p.Header.Type != mqttwire.TypeConnack {
		return 0, mqttwire.Malformed("packet type %d before CONNACK", p.Header.Type)
	}
	return mqttwire.DecodeConnack(p.Body)
}

// write writes one packet whole, within the endpoint's timeout.
func (c *lightConn) write(pkt []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.ep.timeout))
	_, err := c.nc.Write(pkt)
	if err != nil {
		c.fail(err)
		return c.err()
	}
	c.lastW.Store(time.Now().UnixNano())
	return nil
}

// ping sends a PINGREQ unless a packet is being written (which keeps the
// connection alive as well); a socket that takes no 2 bytes in a second
// holds the keeper no longer.
func (c *lightConn) ping() {
	if !c.wmu.TryLock() {
		return
	}
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.nc.Write(mqttwire.AppendPingreq(nil)); err != nil {
		c.fail(err)
		return
	}
	c.lastW.Store(time.Now().UnixNano())
}

// id is the next packet identifier, never 0.
func (c *lightConn) id() uint16 {
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	return c.nextID
}

// readLoop reads the broker's packets until the connection ends.
func (c *lightConn) readLoop() {
	for {
		p, err := c.pr.Next()
		if err != nil {
			c.fail(err)
			return
		}
		c.lastR.Store(time.Now().UnixNano())
		switch p.Header.Type {
		case mqttwire.TypePublish:
			err = c.onPublish(p.Publish)
		case mqttwire.TypePuback, mqttwire.TypeUnsuback:
			var id uint16
			if id, err = mqttwire.DecodePacketID(p.Body); err == nil {
				c.acked(ack{id: id})
			}
		case mqttwire.TypeSuback:
			var id uint16
			var codes []byte
			if id, codes, err = mqttwire.DecodeSuback(p.Body); err == nil {
				c.acked(ack{id: id, codes: append([]byte(nil), codes...)})
			}
		case mqttwire.TypePingresp:
		default:
			err = mqttwire.Malformed("packet type %d after CONNACK", p.Header.Type)
		}
		if err != nil {
			c.fail(err)
			return
		}
	}
}

// acked hands an acknowledgement to the device goroutine; one nobody
// waits for any more (after a timeout) is dropped.
func (c *lightConn) acked(a ack) {
	select {
	case c.acks <- a:
	default:
	}
}

// onPublish streams a download's payload to its writer, queues a desired
// topic's message, and skips anything else (a late copy of an artifact).
func (c *lightConn) onPublish(p mqttwire.Publish) error {
	c.mu.Lock()
	dl, desired := c.dl, c.topics[p.Topic]
	if dl != nil && (!dl.wants(p.Topic) || p.Size == 0) {
		dl = nil
	}
	if dl != nil {
		c.dl = nil
	}
	c.mu.Unlock()
	var err error
	switch {
	case dl != nil:
		bp := copyBuffers.Get().(*[]byte)
		var n int64
		n, err = c.pr.Payload(liveWriter{c, dl.to(p.Topic)}, *bp)
		copyBuffers.Put(bp)
		dl.result <- streamResult{topic: p.Topic, n: n, err: err}
	case desired:
		// At most one byte over the limit is kept: Parse then refuses it.
		w := &capped{b: make([]byte, 0, min(p.Size, release.MaxManifestSize+1)), max: release.MaxManifestSize + 1}
		bp := copyBuffers.Get().(*[]byte)
		_, err = c.pr.Payload(w, *bp)
		copyBuffers.Put(bp)
		if err == nil {
			err = c.queueMessage(upload.Message{Topic: p.Topic, Payload: w.b, Retained: p.Retain})
		}
	}
	if err == nil && p.QoS > 0 {
		err = c.write([]byte{mqttwire.TypePuback << 4, 2, byte(p.ID >> 8), byte(p.ID)})
	}
	return err
}

// liveWriter writes to w and counts each write as hearing from the
// broker: a large component may take longer to arrive than the keeper
// allows between packets.
type liveWriter struct {
	c *lightConn
	w io.Writer
}

func (l liveWriter) Write(p []byte) (int, error) {
	l.c.lastR.Store(time.Now().UnixNano())
	return l.w.Write(p)
}

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	b   []byte
	max int
}

func (w *capped) Write(p []byte) (int, error) {
	if room := w.max - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *lightConn) queueMessage(m upload.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) >= maxQueued {
		return fmt.Errorf("more than %d desired messages not yet handled", maxQueued)
	}
	c.queue = append(c.queue, m)
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

func (c *lightConn) inbox() <-chan struct{} { return c.notify }

func (c *lightConn) take() []upload.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue = nil
	return q
}

func (c *lightConn) done() <-chan struct{} { return c.closed }

func (c *lightConn) err() error {
	select {
	case <-c.closed:
		return c.closeErr
	default:
		return nil
	}
}

// fail ends the connection for err; the first reason is kept.
func (c *lightConn) fail(err error) {
	c.once.Do(func() {
		c.closeErr = fmt.Errorf("%w: %v", upload.ErrClosed, err)
		c.keeper.remove(c)
		c.nc.Close()
		close(c.closed)
	})
}

func (c *lightConn) close() {
	if c.err() == nil {
		c.wmu.Lock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.nc.Write(mqttwire.AppendDisconnect(nil))
		c.wmu.Unlock()
	}
	c.fail(errors.New("closed by the device"))
}

// await waits for the acknowledgement with packet identifier id.
func (c *lightConn) await(ctx context.Context, id uint16, what string) (ack, error) {
	t := time.NewTimer(c.ep.timeout)
	defer t.Stop()
	for {
		select {
		case a := <-c.acks:
			if a.id == id {
				return a, nil
			}
		case <-c.closed:
			return ack{}, c.closeErr
		case <-ctx.Done():
			return ack{}, ctx.Err()
		case <-t.C:
			err := fmt.Errorf("no %s from the broker within %s", what, c.ep.timeout)
			c.fail(err)
			return ack{}, c.err()
		}
	}
}

func (c *lightConn) subscribe(ctx context.Context, filters ...string) error {
	c.mu.Lock()
	for _, f := range filters {
		c.topics[f] = true
	}
	c.mu.Unlock()
	return c.sub(ctx, filters)
}

func (c *lightConn) sub(ctx context.Context, filters []string) error {
	id := c.id()
	if err := c.write(mqttwire.AppendSubscribe(nil, id, filters...)); err != nil {
		return err
	}
	a, err := c.await(ctx, id, "SUBACK")
	if err != nil {
		return err
	}
	if len(a.codes) != len(filters) {
		err := mqttwire.Malformed("SUBACK with %d return codes for %d filters", len(a.codes), len(filters))
		c.fail(err)
		return c.err()
	}
	for i, code := range a.codes {
		if code == 0x80 {
			return &refusedError{filter: filters[i]}
		}
	}
	return nil
}

func (c *lightConn) publishRetained(ctx context.Context, topic string, payload []byte) error {
	id := c.id()
	pkt, err := mqttwire.AppendPublishHeader(make([]byte, 0, 8+len(topic)+len(payload)), topic, 1, true, id, int64(len(payload)))
	if err != nil {
		return err
	}
	start := time.Now()
	if err := c.write(append(pkt, payload...)); err != nil {
		return err
	}
	if _, err := c.await(ctx, id, "PUBACK"); err != nil {
		return err
	}
	c.stats.reported(time.Since(start))
	return nil
}

func (c *lightConn) download(ctx context.Context, to func(topic string) io.Writer, topics ...string) (string, int64, error) {
	dl := &streamTo{topics: topics, to: to, result: make(chan streamResult, 1)}
	c.mu.Lock()
	c.dl = dl
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.dl == dl {
			c.dl = nil
		}
		c.mu.Unlock()
	}()
	if err := c.sub(ctx, topics); err != nil {
		return "", 0, err
	}
	defer func() {
		// Unsubscribe without waiting: a late copy is skipped.
		_ = c.write(mqttwire.AppendUnsubscribe(nil, c.id(), topics...))
	}()
	select {
	case r := <-dl.result:
		return r.topic, r.n, r.err
	case <-c.closed:
		return "", 0, c.closeErr
	case <-ctx.Done():
		// The reader may be streaming into w: wait for it to finish
		// with w before giving w back.
		c.mu.Lock()
		taken := c.dl != dl
		c.dl = nil
		c.mu.Unlock()
		if taken {
			select {
			case r := <-dl.result:
				return r.topic, r.n, r.err
			case <-c.closed:
				return "", 0, c.closeErr
			}
		}
		return "", 0, errNothingRetained
	}
}

// keeper pings, for the whole fleet, every connection that has written
// nothing for three quarters of its keep-alive, and closes those that
// have read nothing for one and a half: one goroutine and one ticker
// instead of a pinger per device.
type keeper struct {
	mu    sync.Mutex
	conns map[*lightConn]struct{}
}

func newKeeper() *keeper { return &keeper{conns: map[*lightConn]struct{}{}} }

func (k *keeper) add(c *lightConn) {
	k.mu.Lock()
	k.conns[c] = struct{}{}
	k.mu.Unlock()
}

func (k *keeper) remove(c *lightConn) {
	k.mu.Lock()
	delete(k.conns, c)
	k.mu.Unlock()
}

// run ticks until ctx ends.
func (k *keeper) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			k.check(now)
		}
	}
}

func (k *keeper) check(now time.Time) {
	var ping, dead []*lightConn
	k.mu.Lock()
	for c := range k.conns {
		switch {
		case now.Sub(time.Unix(0, c.lastR.Load())) > keepAlive*3/2:
			dead = append(dead, c)
		case now.Sub(time.Unix(0, c.lastW.Load())) >= keepAlive*3/4:
			ping = append(ping, c)
		}
	}
	k.mu.Unlock()
	for _, c := range dead {
		c.fail(fmt.Errorf("nothing from the broker for %s", keepAlive*3/2))
	}
	for _, c := range ping {
		c.ping()
	}
}
