package upload

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// ReadRetained returns the message retained on topic, and false when there
// is none. An empty retained payload counts as none.
func (c *Client) ReadRetained(ctx context.Context, topic string) ([]byte, bool, error) {
	return c.readRetained(ctx, topic, 0)
}

// readRetained reads one topic; expect is the size of the message the
// caller expects, which stretches how long silence is tolerated.
func (c *Client) readRetained(ctx context.Context, topic string, expect int) ([]byte, bool, error) {
	if err := CheckTopic(topic); err != nil {
		return nil, false, err
	}
	var (
		payload []byte
		found   bool
	)
	err := c.read(ctx, []string{topic}, expect, func(m Message) bool {
		if m.Topic != topic {
			return false
		}
		payload, found = m.Payload, len(m.Payload) > 0
		return true // a topic retains one message: nothing more to wait for
	})
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", topic, err)
	}
	return payload, found, nil
}

// ReadRetainedAll calls fn for every message retained under filter, then
// returns once the broker has sent them all. fn runs on the caller's
// goroutine, one message at a time; it may see a topic twice when the
// broker sends duplicates (the later call wins). Empty payloads are skipped.
//
// MQTT 3.1.1 has no marker for "all retained messages sent". After the
// broker acknowledges the subscription, the client publishes a message to a
// probe topic of its own (P.u/otactl/probe/CLIENTID/NONCE), subscribed in
// the same SUBSCRIBE packet; a broker sends one connection's messages in
// order, so once the probe comes back every retained message of the filter
// has come before it. If the broker refuses the probe subscription, or the
// probe never returns, a read ends when nothing has arrived for the quiet
// period instead.
func (c *Client) ReadRetainedAll(ctx context.Context, filter string, fn func(topic string, payload []byte)) error {
	return c.ReadRetainedEach(ctx, []string{filter}, fn)
}

// ReadRetainedEach is ReadRetainedAll for several filters read together,
// with one subscription round trip and one end-of-retained probe instead of
// one of each per filter. The filters are subscribed in order, each with a
// SUBSCRIBE packet of its own, all sent before the first acknowledgement is
// awaited; brokers that send a subscription's retained messages as they
// take it (mosquitto, mochi-mqtt) send the filters' messages in that order,
// but other brokers may interleave them. A topic that matches two filters
// may be seen twice.
func (c *Client) ReadRetainedEach(ctx context.Context, filters []string, fn func(topic string, payload []byte)) error {
	uniq, err := uniqueFilters(filters)
	if err != nil {
		return err
	}
	err = c.read(ctx, uniq, 0, func(m Message) bool {
		if len(m.Payload) > 0 {
			fn(m.Topic, m.Payload)
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", strings.Join(uniq, ", "), err)
	}
	return nil
}

// read subscribes to filters and feeds each retained message to take until
// take returns true or every retained message has arrived.
func (c *Client) read(ctx context.Context, filters []string, expect int, take func(Message) bool) error {
	probe := c.topics.Probe(c.id, randomHex(8))
	s := newSession(false, append(slices.Clip(filters), probe)...)
	if err := c.register(s); err != nil {
		return err
	}
	defer c.unregister(ctx, s)
	_, err := c.readSession(ctx, s, filters, probe, expect, func(m Message) bool {
		if !m.Retained {
			// Published live after the subscription: not part of
			// what the broker retained when the read began.
			return false
		}
		return take(m)
	})
	return err
}

// readSession subscribes the registered session s to filters and to probe,
// and feeds every message that arrives on them, retained or live, to take
// until take returns true or every retained message has arrived (the probe
// came back, or the quiet period passed). It returns the messages of the
// last batch that came after the probe, which take has not seen: a session
// that stays registered goes on from there.
func (c *Client) readSession(ctx context.Context, s *session, filters []string, probe string, expect int, take func(Message) bool) ([]Message, error) {
	// One SUBSCRIBE per filter, in order, the probe's with the first; all
	// are sent before any acknowledgement is awaited, so that reading
	// several filters costs one round trip.
	toks := make([]mqtt.Token, len(filters))
	for i, f := range filters {
		want := map[string]byte{f: 0}
		if i == 0 {
			want[probe] = 0
		}
		toks[i] = c.pc.SubscribeMultiple(want, nil)
	}
	granted := make(map[string]byte, len(filters)+1)
	for _, tok := range toks {
		if err := c.wait(ctx, tok, c.opts.timeout(), "subscribe"); err != nil {
			return nil, err
		}
		maps.Copy(granted, tok.(*mqtt.SubscribeToken).Result())
	}
	for _, f := range filters {
		if q, ok := granted[f]; ok && q == 0x80 {
			return nil, &RefusedError{Filter: f}
		}
	}

	c.mu.Lock()
	useProbe := !c.noProbe
	c.mu.Unlock()
	if q, ok := granted[probe]; !ok || q == 0x80 {
		useProbe = false
	}
	// The probe's acknowledgement queues behind the retained messages, so
	// it is awaited in the same loop that consumes them: waiting for it
	// first would hold every retained message in memory meanwhile.
	var probeAcked <-chan struct{}
	var probeTok mqtt.Token
	if useProbe {
		// Non-retained, so it leaves nothing behind on the broker. QoS 0:
		// the broker's delivery order on our subscription is what marks
		// the end, and it is the same at either QoS (we subscribe at 0),
		// while a PUBACK would cost a round trip: mosquitto writes the
		// PUBACK and then the probe as two small segments, and with its
		// default set_tcp_nodelay false, Nagle's algorithm holds the
		// probe until our delayed ACK, about 40 ms later, every read.
		probeTok = c.pc.Publish(probe, 0, false, []byte("otactl end-of-retained probe"))
		probeAcked = probeTok.Done()
	}

	// Silence tolerated before giving up on the probe: the timeout, plus
	// what a large expected message needs to arrive. Every message that
	// arrives starts the silence again.
	silence := c.opts.quietPeriod()
	if useProbe {
		silence = c.opts.publishTimeout(expect)
	}
	timer := time.NewTimer(silence)
	defer timer.Stop()
	var done []Message // the batch handled last, for the queue to reuse
	restart := func() {
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(silence)
	}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			c.mu.Lock()
			defer c.mu.Unlock()
			return nil, c.closedErr()
		case <-probeAcked:
			probeAcked = nil
			if probeTok.Error() != nil {
				// The broker would not take the probe: rely on quiet
				// periods for this read.
				useProbe = false
				silence = c.opts.quietPeriod()
				restart()
			}
			continue
		case <-timer.C:
			if useProbe {
				// The broker took the probe but never sent it back (an
				// access rule that drops it silently, say): from now on
				// this connection relies on quiet periods.
				c.mu.Lock()
				first := !c.noProbe
				c.noProbe = true
				c.mu.Unlock()
				if first && c.opts.Warn != nil {
					c.opts.Warn(fmt.Sprintf("the broker never sent back the end-of-retained probe on %s: reads now end after %s of quiet; allow this user to read and write %s",
						probe, c.opts.quietPeriod(), c.topics.ProbesFilter()))
				}
			}
			return nil, nil
		case <-s.box.wake:
		}
		msgs, err := s.box.swap(done)
		done = msgs
		for i, m := range msgs {
			if m.Topic == probe {
				return slices.Clone(msgs[i+1:]), nil
			}
			if take(m) {
				return nil, nil
			}
		}
		if err != nil {
			return nil, err
		}
		if len(msgs) > 0 {
			restart()
		}
	}
}

// isTimeout reports whether err is a TimeoutError.
func isTimeout(err error) bool {
	var te *TimeoutError
	return errors.As(err, &te)
}
