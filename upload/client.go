package upload

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/protocol"
)

// Message is one message received from the broker.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool // delivered because it was retained, not published live
}

// Client is a connection to one broker. Its methods may be called from
// several goroutines.
type Client struct {
	opts   Options
	url    *url.URL
	id     string
	topics protocol.Topics
	pc     mqtt.Client
	// streams is what streaming connections (stream.go) need; they touch
	// the state below only through streamState.
	streams streamConfig

	mu       sync.Mutex
	sessions map[*session]struct{}
	subs     map[string]int // filter -> number of sessions using it
	closed   bool
	err      error // why the client closed itself, if it did
	noProbe  bool  // the broker refused the end-of-retained probe once
	connects int   // connections made so far
	losses   int   // connections lost so far

	written atomic.Int64             // bytes written to the broker
	current atomic.Pointer[progress] // the publish being written

	done chan struct{}
}

// Connect connects to the broker o names and returns once the broker has
// accepted the connection. A refused connection, bad credentials, a TLS
// failure or an unreachable broker is a *ConnectError: one line and a hint.
// The connection reconnects by itself when it drops; live subscriptions
// are renewed then.
func Connect(ctx context.Context, o Options) (*Client, error) {
	u, err := BrokerURL(o.Broker)
	if err != nil {
		return nil, err
	}
	topics, err := protocol.NewTopics(o.TopicPrefix)
	if err != nil {
		return nil, err
	}
	id := o.ClientID
	if id == "" {
		id = "otactl-" + randomHex(6)
	}
	if err := ValidateClientID(id); err != nil {
		return nil, err
	}
	tlsCfg, err := o.tlsConfig(u)
	if err != nil {
		return nil, err
	}
	c := &Client{
		opts:     o,
		url:      u,
		id:       id,
		topics:   topics,
		sessions: make(map[*session]struct{}),
		subs:     make(map[string]int),
		done:     make(chan struct{}),
	}
	c.streams = c.newStreamConfig(tlsCfg)
	po := mqtt.NewClientOptions().
		AddBroker(u.String()).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(true).
		// Handlers run in arrival order: the end-of-retained probe relies on it.
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(false).
		SetMaxReconnectInterval(10 * time.Second).
		SetConnectTimeout(o.timeout()).
		// Publishes get deadlines of their own, scaled to their size.
		SetWriteTimeout(0).
		SetKeepAlive(30 * time.Second).
		SetPingTimeout(o.timeout()).
		SetDefaultPublishHandler(c.handle).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(c.onLost).
		SetCustomOpenConnectionFn(c.openConn)
	if tlsCfg != nil {
		po.SetTLSConfig(tlsCfg)
	}
	if o.Username != "" {
		po.SetUsername(o.Username)
		po.SetPassword(o.Password)
	}
	c.pc = mqtt.NewClient(po)

	tok := c.pc.Connect()
	timer := time.NewTimer(o.timeout() + time.Second)
	defer timer.Stop()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.pc.Disconnect(0)
		return nil, ctx.Err()
	case <-timer.C:
		c.pc.Disconnect(0)
		return nil, &ConnectError{Broker: u.String(), Reason: "no answer in time", Err: &TimeoutError{What: "connect", After: o.timeout()},
			hint: "is the broker reachable on " + u.Host + "? --timeout waits longer"}
	}
	if err := tok.Error(); err != nil {
		rc := byte(packets.ErrNetworkError)
		if ct, ok := tok.(*mqtt.ConnectToken); ok {
			rc = ct.ReturnCode()
		}
		return nil, classifyConnect(u, rc, err)
	}
	return c, nil
}

// ClientID is the MQTT client identifier in use.
func (c *Client) ClientID() string { return c.id }

// Broker is the normalised URL of the broker.
func (c *Client) Broker() string { return c.url.String() }

// Topics builds the topics under this connection's prefix.
func (c *Client) Topics() protocol.Topics { return c.topics }

// Losses counts the times the connection to the broker dropped (it
// reconnects by itself).
func (c *Client) Losses() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.losses
}

// Close disconnects, ends every read and live subscription, and waits a
// moment for acknowledgements still in flight.
func (c *Client) Close() error {
	c.shutdown(nil)
	c.pc.Disconnect(250)
	return nil
}

// Err reports why the client closed itself (an abandoned publish, a
// subscription the broker refused after a reconnect), or nil.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// shutdown marks the client closed and ends every session.
func (c *Client) shutdown(reason error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.err = reason
	close(c.done)
	sessions := make([]*session, 0, len(c.sessions))
	for s := range c.sessions {
		sessions = append(sessions, s)
	}
	c.mu.Unlock()
	if reason == nil {
		reason = ErrClosed
	}
	for _, s := range sessions {
		s.box.fail(reason)
	}
}

// abandon closes the client because an operation gave up on an
// acknowledgement: paho may still hold the payload, and closing is the only
// way to make it let go.
func (c *Client) abandon(reason error) {
	c.shutdown(reason)
	c.pc.Disconnect(0)
}

// handle runs on paho's router goroutine for every incoming message. It
// never blocks: it hands the message to each interested session's queue.
func (c *Client) handle(_ mqtt.Client, m mqtt.Message) {
	msg := Message{Topic: m.Topic(), Payload: m.Payload(), Retained: m.Retained()}
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.sessions {
		if s.matches(msg.Topic) {
			s.box.push(msg)
		}
	}
}

// onConnect runs in its own goroutine after every (re)connection and,
// after a reconnection, renews the subscriptions of live sessions.
func (c *Client) onConnect(mqtt.Client) {
	c.mu.Lock()
	c.connects++
	if c.connects == 1 {
		// The first connection: sessions subscribe for themselves.
		c.mu.Unlock()
		return
	}
	filters := make(map[string]byte)
	for s := range c.sessions {
		if s.live {
			for _, f := range s.filters {
				filters[f] = 0
			}
		}
	}
	c.mu.Unlock()
	if len(filters) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.timeout())
	defer cancel()
	granted, err := c.subscribe(ctx, filters)
	if err == nil {
		for f := range filters {
			if q, ok := granted[f]; ok && q == 0x80 {
				err = &RefusedError{Filter: f}
			}
		}
	}
	if err != nil {
		// A live stream with a hole in it would mislead: end it.
		c.abandon(fmt.Errorf("renew subscriptions after reconnecting: %w", err))
	}
}

// onLost ends reads in progress: what they gathered may be incomplete.
// Live sessions carry on after the reconnect.
func (c *Client) onLost(_ mqtt.Client, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.losses++
	for s := range c.sessions {
		if !s.live {
			s.box.fail(&lostError{err})
		}
	}
}

type lostError struct{ err error }

func (e *lostError) Error() string {
	return "connection to the broker lost: " + text.FirstLine(e.err.Error())
}
func (e *lostError) Unwrap() error { return e.err }

// register adds a session; its filters count as used until unregister.
func (c *Client) register(s *session) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.closedErr()
	}
	c.sessions[s] = struct{}{}
	for _, f := range s.filters {
		c.subs[f]++
	}
	return nil
}

// unregister removes a session and unsubscribes the filters no other
// session uses. ctx is the context of the session's operation: once it is
// done (interrupted, or a live stream ended), the broker's answer is
// awaited only briefly, so that a stalled broker cannot hold up the end.
func (c *Client) unregister(ctx context.Context, s *session) {
	c.mu.Lock()
	if _, ok := c.sessions[s]; !ok {
		c.mu.Unlock()
		return
	}
	delete(c.sessions, s)
	var drop []string
	for _, f := range s.filters {
		c.subs[f]--
		if c.subs[f] <= 0 {
			delete(c.subs, f)
			drop = append(drop, f)
		}
	}
	closed := c.closed
	c.mu.Unlock()
	if closed || len(drop) == 0 {
		return
	}
	tok := c.pc.Unsubscribe(drop...)
	// A failed unsubscribe only means unwanted messages, which no session
	// takes; waiting keeps later reads of the same topics in order.
	d := c.opts.timeout()
	if ctx.Err() != nil {
		d = min(d, unsubscribeGrace)
	}
	_ = c.wait(context.Background(), tok, d, "unsubscribe")
}

// unsubscribeGrace is how long unregister waits for the broker once the
// operation's context is done.
const unsubscribeGrace = time.Second

func (c *Client) closedErr() error {
	if c.err != nil {
		return errors.Join(ErrClosed, c.err)
	}
	return ErrClosed
}

// streamState is the one way a streaming connection (stream.go) reaches
// the client's shared state. It reports whether reads end on quiet periods
// rather than with the end-of-retained probe, and an error once the client
// has closed. A non-empty lostProbe is a probe the broker took but never
// sent back: from then on every read of the client ends on quiet periods,
// and the first such probe gets a warning.
func (c *Client) streamState(lostProbe string) (quiet bool, err error) {
	c.mu.Lock()
	first := lostProbe != "" && !c.noProbe
	if lostProbe != "" {
		c.noProbe = true
	}
	quiet = c.noProbe
	if c.closed {
		err = c.closedErr()
	}
	c.mu.Unlock()
	if first && c.opts.Warn != nil {
		c.opts.Warn(fmt.Sprintf("the broker never sent back the end-of-retained probe on %s: reads now end after %s of quiet; allow this user to read and write %s",
			lostProbe, c.opts.quietPeriod(), c.topics.ProbesFilter()))
	}
	return quiet, err
}

// subscribe subscribes to filters and returns the QoS the broker granted
// each (0x80 for refused).
func (c *Client) subscribe(ctx context.Context, filters map[string]byte) (map[string]byte, error) {
	tok := c.pc.SubscribeMultiple(filters, nil)
	if err := c.wait(ctx, tok, c.opts.timeout(), "subscribe"); err != nil {
		return nil, err
	}
	return tok.(*mqtt.SubscribeToken).Result(), nil
}

// wait waits for a token for at most d, for ctx and for the client closing,
// and checks the token's error once it is done.
func (c *Client) wait(ctx context.Context, tok mqtt.Token, d time.Duration, what string) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return errors.New(what + ": " + text.FirstLine(err.Error()))
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return &TimeoutError{What: what, After: d}
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.closedErr()
	}
}

// session is one reader or live subscriber: the filters it wants and the
// queue paho's handler fills.
type session struct {
	filters []string
	live    bool
	box     mailbox
	last    int // the filter that matched last; only handle uses it, under Client.mu
}

func newSession(live bool, filters ...string) *session {
	return &session{filters: filters, live: live, box: mailbox{wake: make(chan struct{}, 1)}}
}

// matches reports whether topic matches one of the session's filters. It
// tries the filter that matched last first: a read of several filters
// gets long runs of messages under one of them (a fleet's reports).
func (s *session) matches(topic string) bool {
	if s.last < len(s.filters) && MatchTopic(s.filters[s.last], topic) {
		return true
	}
	for i, f := range s.filters {
		if i != s.last && MatchTopic(f, topic) {
			s.last = i
			return true
		}
	}
	return false
}

// mailbox is an unbounded queue that never blocks the producer.
type mailbox struct {
	mu    sync.Mutex
	items []Message
	err   error
	wake  chan struct{}
}

func (b *mailbox) push(m Message) {
	b.mu.Lock()
	b.items = append(b.items, m)
	b.mu.Unlock()
	b.notify()
}

// fail ends the queue with err; the first error stays.
func (b *mailbox) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
	b.notify()
}

func (b *mailbox) notify() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// take returns everything queued so far and the error that ended the
// queue, if any.
func (b *mailbox) take() ([]Message, error) {
	return b.swap(nil)
}

// swap is take for a consumer that hands back the previous batch, done
// with: the queue fills its memory again instead of growing a new slice.
func (b *mailbox) swap(done []Message) ([]Message, error) {
	clear(done) // let go of the payloads
	b.mu.Lock()
	defer b.mu.Unlock()
	items := b.items
	b.items = done[:0]
	return items, b.err
}
