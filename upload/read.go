package upload

import (
	"context"
	"errors"
	"fmt"
	"time"
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
	err := c.read(ctx, topic, expect, func(m Message) bool {
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
	if err := CheckFilter(filter); err != nil {
		return err
	}
	err := c.read(ctx, filter, 0, func(m Message) bool {
		if len(m.Payload) > 0 {
			fn(m.Topic, m.Payload)
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", filter, err)
	}
	return nil
}

// read subscribes to filter and feeds each retained message to take until
// take returns true or every retained message has arrived.
func (c *Client) read(ctx context.Context, filter string, expect int, take func(Message) bool) error {
	probe := c.topics.probe(c.id, randomHex(8))
	s := newSession(false, filter, probe)
	if err := c.register(s); err != nil {
		return err
	}
	defer c.unregister(s)

	granted, err := c.subscribe(ctx, map[string]byte{filter: 0, probe: 0})
	if err != nil {
		return err
	}
	if q, ok := granted[filter]; ok && q == 0x80 {
		return &RefusedError{Filter: filter}
	}

	c.mu.Lock()
	useProbe := !c.noProbe
	c.mu.Unlock()
	if q, ok := granted[probe]; !ok || q == 0x80 {
		useProbe = false
	}
	if useProbe {
		// Non-retained, so it leaves nothing behind on the broker.
		tok := c.pc.Publish(probe, 1, false, []byte("otactl end-of-retained probe"))
		// Its acknowledgement may queue behind the retained messages.
		if err := c.wait(ctx, tok, c.opts.publishTimeout(expect), "publish probe"); err != nil {
			if isTimeout(err) || ctx.Err() != nil {
				return err
			}
			useProbe = false
		}
	}

	// Silence tolerated before giving up on the probe: the timeout, plus
	// what a large expected message needs to arrive.
	silence := c.opts.quietPeriod()
	if useProbe {
		silence = c.opts.publishTimeout(expect)
	}
	timer := time.NewTimer(silence)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
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
					c.opts.Warn(fmt.Sprintf("the broker never sent back the end-of-retained probe on %s: reads now end after %s of quiet; allow this user to read and write %s.u/otactl/probe/#",
						probe, c.opts.quietPeriod(), c.topics.Prefix()))
				}
			}
			return nil
		case <-s.box.wake:
		}
		msgs, err := s.box.take()
		for _, m := range msgs {
			if m.Topic == probe {
				return nil
			}
			if !m.Retained {
				// Published live after the subscription: not part of
				// what the broker retained when the read began.
				continue
			}
			if take(m) {
				return nil
			}
		}
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(silence)
		}
	}
}

// isTimeout reports whether err is a TimeoutError.
func isTimeout(err error) bool {
	var te *TimeoutError
	return errors.As(err, &te)
}
