package upload

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Rank is where a retained message stands among those published to one
// topic: the higher wins. For desired manifests Seq is the sequence number
// and Release tells two releases of one sequence number apart (their
// digest). The zero Rank, below every manifest, stands for nothing, an
// empty payload, or bytes that are not a manifest.
type Rank struct {
	Seq     int64
	Release string
}

// Compare returns -1, 0 or +1 as r is below, equal to or above o.
func (r Rank) Compare(o Rank) int {
	if c := cmp.Compare(r.Seq, o.Seq); c != 0 {
		return c
	}
	return strings.Compare(r.Release, o.Release)
}

// Seen is one message a Watch saw on a topic.
type Seen struct {
	Payload []byte
	Rank    Rank
	// Retained is set for a message the broker sent because it was
	// retained (on subscribing, or again on a read-back), not live.
	Retained bool
}

// WatchOptions say how a Watch orders what it sees.
type WatchOptions struct {
	// Rank ranks a payload; required.
	Rank func(payload []byte) Rank
	// Over says this run publishes over whatever is there (--force):
	// only what arrives after its own first publish to a topic can
	// supersede it there.
	Over bool
}

// maxRestores bounds how often Settle publishes a topic's highest release
// again: every restore answers a publish by another run, so reaching it
// means something keeps publishing lower releases.
const maxRestores = 8

// Watch is a live subscription to retained topics that records every
// message the broker sends on them, from those retained when it began, in
// the order they arrive. MQTT has no compare-and-set; a Watch is how
// racing publishers of one topic converge on the highest release (see
// Settle). It holds one session on the client until Close, and ends when
// the connection drops: what it saw would have a hole in it.
type Watch struct {
	c      *Client
	s      *session
	o      WatchOptions
	topics map[string]*watched
	order  []string
	err    error
	batch  []Message // the mailbox batch taken last, for it to reuse
	closed bool
	last   map[string]Outcome // what Settle found last
	ctx    context.Context    // the run's: once it ends, Close does not wait for the broker
}

// watched is what a Watch knows of one topic.
type watched struct {
	log        []Seen
	initial    []byte // retained when the watch began, nil for none
	hasInitial bool
	own        []byte // this run's release on the topic; nil: none yet
	ownRank    Rank
	from       int    // log entries before from cannot supersede own (Over)
	pending    []byte // published and not seen back yet
	mark       int    // log length when pending was published
	settled    int    // log length when Settle last confirmed the topic
	restored   int
}

// Watch subscribes to topics and returns once the broker has sent what it
// retains on them (the end-of-retained probe of ReadRetainedAll). Every
// message that arrives from then on is recorded, until Close.
func (c *Client) Watch(ctx context.Context, topics []string, o WatchOptions) (*Watch, error) {
	if o.Rank == nil {
		return nil, fmt.Errorf("watch: no rank function")
	}
	if len(topics) == 0 {
		return nil, fmt.Errorf("watch: no topic")
	}
	w := &Watch{c: c, o: o, topics: map[string]*watched{}, ctx: ctx}
	for _, t := range topics {
		if err := CheckTopic(t); err != nil {
			return nil, err
		}
		if _, ok := w.topics[t]; !ok {
			w.topics[t] = &watched{}
			w.order = append(w.order, t)
		}
	}
	probe := c.topics.Probe(c.id, randomHex(8))
	w.s = newSession(false, append(slices.Clip(w.order), probe)...)
	if err := c.register(w.s); err != nil {
		return nil, err
	}
	rest, err := c.readSession(ctx, w.s, w.order, probe, 0, func(m Message) bool {
		if wt := w.add(m); wt != nil && m.Retained {
			wt.initial, wt.hasInitial = m.Payload, len(m.Payload) > 0
		}
		return false
	})
	if err != nil {
		c.unregister(ctx, w.s)
		return nil, fmt.Errorf("watch %s: %w", strings.Join(w.order, ", "), err)
	}
	for _, m := range rest {
		w.add(m)
	}
	return w, nil
}

// add records m and returns its topic's record, nil for a topic not
// watched.
func (w *Watch) add(m Message) *watched {
	wt, ok := w.topics[m.Topic]
	if !ok {
		return nil
	}
	wt.log = append(wt.log, Seen{Payload: m.Payload, Rank: w.o.Rank(m.Payload), Retained: m.Retained})
	return wt
}

// Close ends the subscription.
func (w *Watch) Close() {
	if !w.closed {
		w.closed = true
		w.c.unregister(w.ctx, w.s)
	}
}

// Retained returns the message retained on topic when the watch began;
// an empty payload counts as none.
func (w *Watch) Retained(topic string) ([]byte, bool) {
	wt, ok := w.topics[topic]
	if !ok {
		return nil, false
	}
	return wt.initial, wt.hasInitial
}

// Seen returns every message seen on topic since the watch began, in the
// order they arrived, as of the last Poll (or Publish or Settle).
func (w *Watch) Seen(topic string) []Seen {
	if wt, ok := w.topics[topic]; ok {
		return slices.Clip(wt.log)
	}
	return nil
}

// Poll records the messages that arrived since the last call, without
// waiting. Its error, once the watch has ended (the connection dropped,
// the client closed), stays.
func (w *Watch) Poll() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	msgs, err := w.s.box.swap(w.batch)
	w.batch = msgs
	for _, m := range msgs {
		w.add(m)
	}
	if err != nil {
		w.err = fmt.Errorf("watch %s: %w", strings.Join(w.order, ", "), err)
	}
	return w.err
}

// Own says that payload, retained on topic already, is this run's release
// there, without publishing it: Settle confirms it as if it had been.
func (w *Watch) Own(topic string, payload []byte) error {
	wt, ok := w.topics[topic]
	if !ok {
		return fmt.Errorf("watch: %s is not watched", topic)
	}
	if err := w.Poll(); err != nil {
		return err
	}
	w.claim(wt, payload)
	return nil
}

func (w *Watch) claim(wt *watched, payload []byte) {
	if wt.own == nil {
		wt.own, wt.ownRank = payload, w.o.Rank(payload)
		if w.o.Over {
			wt.from = len(wt.log)
		}
	}
}

// Publish publishes payload to topic, retained at QoS 1, as this run's
// release there, and returns once the broker has acknowledged it. Settle
// then waits for it to come back on the watch and confirms it.
func (w *Watch) Publish(ctx context.Context, topic string, payload []byte) error {
	wt, ok := w.topics[topic]
	if !ok {
		return fmt.Errorf("watch: %s is not watched", topic)
	}
	if len(payload) == 0 {
		return fmt.Errorf("publish to %s: empty payload", topic)
	}
	if err := w.Poll(); err != nil {
		return err
	}
	w.claim(wt, payload)
	return w.publish(ctx, topic, wt, payload)
}

func (w *Watch) publish(ctx context.Context, topic string, wt *watched, payload []byte) error {
	wt.pending, wt.mark = payload, len(wt.log)
	return w.c.publish(ctx, topic, payload)
}

// Outcome is how a topic this run published to settled.
type Outcome struct {
	// Retained is what the topic retained when it was last read back,
	// nil for nothing.
	Retained []byte
	// Highest is the highest release seen on the topic since the watch
	// began (since this run's own publish, with Over), this run's own
	// included.
	Highest Rank
	// Superseded says Highest is above this run's own release: another
	// run published a higher one there concurrently.
	Superseded bool
	// Restored counts the times this run published Highest again because
	// a lower release had replaced it.
	Restored int
}

// Settle makes every topic this run published to (or claimed with Own)
// end on the highest release published there since the watch began, and
// says whether that is this run's own. It waits until each of this run's
// publishes has come back on the watch, reads the topics back, and then,
// for each topic where the read-back or the last message seen is below
// the highest release seen, publishes the highest one's exact bytes again
// (it was signed by its own publisher: nothing is re-signed) and starts
// over. It returns once every topic's read-back and last message are the
// highest release seen.
//
// This converges when every publisher follows the same rule, on a broker
// that delivers one topic's messages to every subscriber in the order it
// retains them: docs/publishing.md, "Concurrent publishes", says why.
// Called again later, Settle reads back only when something arrived since.
func (w *Watch) Settle(ctx context.Context) (map[string]Outcome, error) {
	var owned []string
	for _, t := range w.order {
		if w.topics[t].own != nil {
			owned = append(owned, t)
		}
	}
	for round := 0; ; round++ {
		if err := w.awaitEchoes(ctx); err != nil {
			return nil, err
		}
		if len(owned) == 0 {
			return map[string]Outcome{}, nil
		}
		if round == 0 && w.last != nil && w.quiet(owned) {
			return w.last, nil
		}
		back := map[string][]byte{}
		err := w.c.ReadRetainedEach(ctx, owned, func(topic string, payload []byte) { back[topic] = payload })
		if err != nil {
			return nil, err
		}
		// The read-back's retained copies reached the watch too, before
		// the read ended.
		if err := w.Poll(); err != nil {
			return nil, err
		}
		out := make(map[string]Outcome, len(owned))
		restore := map[string][]byte{}
		for _, t := range owned {
			wt := w.topics[t]
			hi, hiPayload := wt.ownRank, wt.own
			var last *Seen
			for i := wt.from; i < len(wt.log); i++ {
				s := &wt.log[i]
				if wt.late(s) {
					continue
				}
				if s.Rank.Compare(hi) > 0 {
					hi, hiPayload = s.Rank, s.Payload
				}
				last = s
			}
			cur := back[t]
			curRank := w.o.Rank(cur)
			if curRank.Compare(hi) > 0 {
				hi, hiPayload = curRank, cur
			}
			lastLow := last != nil && last.Rank.Compare(hi) < 0
			if curRank.Compare(hi) < 0 || lastLow {
				restore[t] = hiPayload
			}
			out[t] = Outcome{Retained: cur, Highest: hi, Superseded: hi.Compare(wt.ownRank) > 0, Restored: wt.restored}
		}
		if len(restore) == 0 {
			for _, t := range owned {
				w.topics[t].settled = len(w.topics[t].log)
			}
			w.last = out
			return out, nil
		}
		for _, t := range owned {
			payload, ok := restore[t]
			if !ok {
				continue
			}
			wt := w.topics[t]
			if wt.restored >= maxRestores {
				return nil, fmt.Errorf("%s keeps changing: another client published lower releases there %d times while this run restored the highest one", t, wt.restored)
			}
			wt.restored++
			if err := w.publish(ctx, t, wt, payload); err != nil {
				return nil, fmt.Errorf("restore %s: %w", t, err)
			}
		}
	}
}

// late says whether s is the message the topic retained when the watch
// began, delivered again live: a broker may send an earlier publish to a
// subscription made just after it acknowledged that publish (mochi does).
// It is not a new publish; should someone really publish those bytes again,
// the read-back that Settle makes sees it.
func (wt *watched) late(s *Seen) bool {
	return !s.Retained && wt.hasInitial && bytes.Equal(s.Payload, wt.initial)
}

// quiet reports whether nothing arrived on topics since Settle last
// confirmed them.
func (w *Watch) quiet(topics []string) bool {
	for _, t := range topics {
		if wt := w.topics[t]; len(wt.log) != wt.settled {
			return false
		}
	}
	return true
}

// awaitEchoes waits until every pending publish has come back on the
// watch. One that does not within the timeout is read back: not retained
// is a *VerifyError, retained an *EchoError.
func (w *Watch) awaitEchoes(ctx context.Context) error {
	timeout := w.c.opts.timeout()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if err := w.Poll(); err != nil {
			return err
		}
		var missing []string
		for _, t := range w.order {
			wt := w.topics[t]
			if wt.pending == nil {
				continue
			}
			if i := slices.IndexFunc(wt.log[wt.mark:], func(s Seen) bool { return bytes.Equal(s.Payload, wt.pending) }); i >= 0 {
				if w.o.Over && wt.restored == 0 {
					// What came back before the echo was published
					// before this run's release: with Over it does
					// not count (a broker may deliver an earlier
					// publish late, after acknowledging it).
					wt.from = max(wt.from, wt.mark+i)
				}
				wt.pending = nil
				continue
			}
			missing = append(missing, t)
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-w.s.box.wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-w.c.done:
			// Poll reports why.
		case <-timer.C:
			return w.noEcho(ctx, missing[0], timeout)
		}
	}
}

// noEcho explains a publish that never came back on the watch.
func (w *Watch) noEcho(ctx context.Context, topic string, after time.Duration) error {
	wt := w.topics[topic]
	got, found, err := w.c.readRetained(ctx, topic, len(wt.pending))
	if err != nil {
		return err
	}
	if !bytes.Equal(got, wt.pending) {
		var read *content
		if found {
			read = contentOf(got)
		}
		return verifyContent(topic, *contentOf(wt.pending), read)
	}
	return &EchoError{Topic: topic, After: after}
}

// EchoError is a publish that the broker acknowledged and retains but
// never sent back on this client's own subscription to the topic, so that
// what others published there meanwhile cannot be known.
type EchoError struct {
	Topic string
	After time.Duration
}

func (e *EchoError) Error() string {
	return fmt.Sprintf("publish to %s: the broker retains it but did not send it back to this client's subscription within %s", e.Topic, e.After)
}

// Hint names the access the watch needs.
func (e *EchoError) Hint() string {
	return "otactl subscribes to each desired topic while it publishes there, to see concurrent publishes: allow this user to subscribe to " + e.Topic
}
