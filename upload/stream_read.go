package upload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/otactl/otactl/internal/mqttwire"
)

// ReadRetainedBulk is ReadRetainedEach for reads of many small messages, a
// fleet's state reports: on mqtt:// and mqtts:// brokers it reads through
// a streaming connection of its own, one buffered reader and no work per
// message but the copy of its payload, where the main connection's client
// library hands each message over through goroutines and channels. On
// other brokers, or one that refuses a second connection, it is
// ReadRetainedEach. Topics and payloads stay valid after fn returns.
func (c *Client) ReadRetainedBulk(ctx context.Context, filters []string, fn func(topic string, payload []byte)) error {
	uniq, err := uniqueFilters(filters)
	if err != nil {
		return err
	}
	if !c.streamable() {
		return c.ReadRetainedEach(ctx, uniq, fn)
	}
	s, err := c.streams.dial(ctx, 0)
	var re *refusedError
	if errors.As(err, &re) {
		return c.ReadRetainedEach(ctx, uniq, fn)
	}
	if err != nil {
		return err
	}
	defer s.close()
	// The topics, as the payloads, come from shared blocks: fn may keep
	// them all (a fleet's model keeps each report's topic).
	s.pr.ShareTopics()
	what := "read " + strings.Join(uniq, ", ")
	var arena payloadArena
	err = s.readEach(what, uniq, func(m mqttwire.Publish) (bool, error) {
		if m.Size == 0 {
			return false, nil
		}
		s.step(s.cfg.publishTimeout(int(m.Size)))
		p := arena.take(int(m.Size))
		if _, err := s.pr.Payload(&sliceWriter{b: p[:0]}, s.buf); err != nil {
			return true, s.fail(what, err)
		}
		s.step(0)
		fn(m.Topic, p)
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	s.disconnect()
	return nil
}

// uniqueFilters checks filters and drops repeats, keeping the order.
func uniqueFilters(filters []string) ([]string, error) {
	if len(filters) == 0 {
		return nil, errors.New("read: no topic filter")
	}
	var uniq []string
	for _, f := range filters {
		if err := CheckFilter(f); err != nil {
			return nil, err
		}
		if !slices.Contains(uniq, f) {
			uniq = append(uniq, f)
		}
	}
	return uniq, nil
}

// payloadArena hands out payload buffers carved from shared blocks, one
// allocation for many small messages; a buffer is never handed out twice.
type payloadArena struct{ block []byte }

const arenaBlock = 64 << 10

func (a *payloadArena) take(n int) []byte {
	if n > arenaBlock/4 {
		return make([]byte, n)
	}
	if cap(a.block)-len(a.block) < n {
		a.block = make([]byte, 0, arenaBlock)
	}
	start := len(a.block)
	a.block = a.block[:start+n]
	return a.block[start : start+n : start+n]
}

// sliceWriter appends to b, which has the room for what is written.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
