package upload

import (
	"context"
	"fmt"
	"time"
)

// Subscribe subscribes to filters and returns once the broker has
// acknowledged them. Messages then flow to out (retained ones first, with
// Retained set) until ctx ends, the client closes or a subscription cannot
// be renewed after a reconnect; then out is closed, and Err tells why if
// the client closed itself. Subscriptions are renewed after every
// reconnect, so retained messages may arrive again then.
//
// Messages are queued without limit while out is not being read: paho's
// handler never waits for the caller.
func (c *Client) Subscribe(ctx context.Context, filters []string, out chan<- Message) error {
	if len(filters) == 0 {
		return fmt.Errorf("subscribe: no topic filter")
	}
	want := make(map[string]byte, len(filters))
	for _, f := range filters {
		if err := CheckFilter(f); err != nil {
			return err
		}
		want[f] = 0
	}
	s := newSession(true, filters...)
	if err := c.register(s); err != nil {
		return err
	}
	granted, err := c.subscribe(ctx, want)
	if err != nil {
		c.unregister(ctx, s)
		return err
	}
	for _, f := range filters {
		if q, ok := granted[f]; ok && q == 0x80 {
			c.unregister(ctx, s)
			return &RefusedError{Filter: f}
		}
	}
	go c.forward(ctx, s, out)
	return nil
}

// forward moves a live session's messages to out. When ctx ends, what
// has arrived and fits in out goes there before it is closed: a reader
// that takes a last look at a deadline (fleet.Source.Await) sees the
// messages that came before it.
func (c *Client) forward(ctx context.Context, s *session, out chan<- Message) {
	defer close(out)
	defer c.unregister(ctx, s)
	for {
		select {
		case <-ctx.Done():
			msgs, _ := s.box.take()
			flushTo(out, msgs)
			return
		case <-s.box.wake:
		}
		msgs, err := s.box.take()
		for i, m := range msgs {
			select {
			case out <- m:
			case <-ctx.Done():
				more, _ := s.box.take()
				flushTo(out, append(msgs[i:], more...))
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// flushTo puts msgs in out, in order, waiting for room up to half a
// second in all (the reader, fleet.Source.Follow, takes them until out
// is closed, a second at most): a burst of reports at a deadline is
// handed over, not dropped because out was full.
func flushTo(out chan<- Message, msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	timer := time.NewTimer(500 * time.Millisecond)
	defer timer.Stop()
	for _, m := range msgs {
		select {
		case out <- m:
		case <-timer.C:
			return
		}
	}
}
