package upload

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// PublishRetained publishes payload to topic, retained, at QoS 1, and
// returns once the broker acknowledged it. The broker's acknowledgement
// does not prove the message was kept: PublishVerified does.
//
// paho holds payload until the acknowledgement: the caller must not change
// it before PublishRetained returns. A publish given up on (the context
// ends, or no acknowledgement within the timeout plus the time the payload
// needs at 128 KiB/s) closes the client, so that nothing still holds
// the payload.
func (c *Client) PublishRetained(ctx context.Context, topic string, payload []byte) error {
	if err := CheckTopic(topic); err != nil {
		return err
	}
	if len(payload) == 0 {
		return fmt.Errorf("publish to %s: empty payload (an empty retained message deletes; use Clear)", topic)
	}
	return c.publish(ctx, topic, payload)
}

func (c *Client) publish(ctx context.Context, topic string, payload []byte) error {
	c.mu.Lock()
	if c.closed {
		err := c.closedErr()
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	defer c.track(topic, len(payload))()
	tok := c.pc.Publish(topic, 1, true, payload)
	err := c.wait(ctx, tok, c.opts.publishTimeout(len(payload)), "publish to "+topic)
	if err != nil && !errors.Is(err, ErrClosed) && (isTimeout(err) || ctx.Err() != nil) {
		c.abandon(err)
	}
	return err
}

// PublishVerified publishes payload retained, as PublishRetained, then reads
// the retained message back and compares size and SHA-256. A message the
// broker does not retain, or retains changed, is a *VerifyError, which
// wraps release.ErrVerification.
func (c *Client) PublishVerified(ctx context.Context, topic string, payload []byte) error {
	since := c.readState()
	if err := c.PublishRetained(ctx, topic, payload); err != nil {
		return err
	}
	return c.verifyRetained(ctx, topic, len(payload), sha256.Sum256(payload), true, since)
}

// VerifyRetained reads the message retained on topic and checks that it is
// size bytes with SHA-256 sum. A mismatch or a missing message is a
// *VerifyError. A message of 1 MiB or more on an mqtt:// or mqtts:// broker
// is read through a streaming connection and hashed as it arrives, never
// held whole in memory (see PutFile).
func (c *Client) VerifyRetained(ctx context.Context, topic string, size int, sum [32]byte) error {
	return c.verifyRetained(ctx, topic, size, sum, true, c.readState())
}

// readState is what a later read-back needs to know of the connection:
// how many times it was lost, and whether reads already end on quiet
// periods rather than on the end-of-retained probe.
type readState struct {
	losses  int
	noProbe bool
}

func (c *Client) readState() readState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return readState{losses: c.losses, noProbe: c.noProbe}
}

// unconfirmed says why a message not found on topic proves nothing, given
// the connection's state since, or returns nil when its absence is proof.
func (c *Client) unconfirmed(topic string, since readState) error {
	now := c.readState()
	switch {
	case now.losses != since.losses:
		return &UnconfirmedError{Topic: topic, Why: "the connection to the broker dropped and came back meanwhile"}
	case now.noProbe && !since.noProbe:
		return &UnconfirmedError{Topic: topic, Why: "the broker stopped answering during the read-back"}
	}
	return nil
}

// verifyRetained is VerifyRetained; stream says whether a streaming
// connection may be tried, and since is the connection's state before the
// publish being verified (or before the read, with none). A message
// missing or different is looked for again, less and less often, until
// the read-back wait has passed (Options.ReadBackWait): an eventually
// consistent broker is not a failure.
func (c *Client) verifyRetained(ctx context.Context, topic string, size int, sum [32]byte, stream bool, since readState) error {
	if err := CheckTopic(topic); err != nil {
		return err
	}
	return LookAgain(ctx, c.opts.readBackWait(), func() (bool, error) {
		err := c.verifyOnce(ctx, topic, size, sum, stream, since)
		var ve *VerifyError
		return errors.As(err, &ve), err
	})
}

// LookAgain runs look until it says not to look again, looking again 50
// ms later, then twice as long each time and at most 1 s apart, for as
// long as the next look is within wait: the read-back of an eventually
// consistent broker. It returns look's last error, or ctx's when look
// gave none.
func LookAgain(ctx context.Context, wait time.Duration, look func() (again bool, err error)) error {
	deadline := time.Now().Add(wait)
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		again, err := look()
		if !again || time.Now().Add(delay).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return err
		case <-time.After(delay):
		}
	}
}

// verifyOnce reads the message on topic once and checks it.
func (c *Client) verifyOnce(ctx context.Context, topic string, size int, sum [32]byte, stream bool, since readState) error {
	if stream && int64(size) >= streamThreshold && c.streamable() {
		err := c.verifyStreamed(ctx, topic, size, sum)
		if err == nil || !c.refused(err, topic) {
			return err
		}
	}
	got, found, err := c.readRetained(ctx, topic, size)
	if err != nil {
		return err
	}
	want := content{int64(size), sum}
	if !found {
		if err := c.unconfirmed(topic, since); err != nil {
			return err
		}
		return verifyContent(topic, want, nil)
	}
	return verifyContent(topic, want, contentOf(got))
}

// Clear deletes the message retained on topic (an empty retained publish)
// and reads the topic back, until the read-back wait has passed, to make
// sure nothing is retained there any more.
func (c *Client) Clear(ctx context.Context, topic string) error {
	if err := CheckTopic(topic); err != nil {
		return err
	}
	if err := c.publish(ctx, topic, []byte{}); err != nil {
		return err
	}
	// An eventually consistent broker (a NATS cluster) serves the clear
	// late, as it does a publish: look again until the read-back wait.
	return LookAgain(ctx, c.opts.readBackWait(), func() (bool, error) {
		got, found, err := c.ReadRetained(ctx, topic)
		switch {
		case err != nil:
			return false, err
		case found:
			return true, fmt.Errorf("clear %s: the broker still retains %d bytes there", topic, len(got))
		}
		return false, nil
	})
}
