package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/protocol"
)

// Prober is what the wildcard probe needs of a broker connection
// (an *upload.Client has it).
type Prober interface {
	Topics() protocol.Topics
	PublishVerified(ctx context.Context, topic string, payload []byte) error
	ReadRetainedAll(ctx context.Context, filter string, fn func(topic string, payload []byte)) error
	Clear(ctx context.Context, topic string) error
}

// WildcardOutcome is what the wildcard probe found.
type WildcardOutcome int

const (
	// WildcardDelivered: the probe came back through a wildcard
	// subscription.
	WildcardDelivered WildcardOutcome = iota
	// WildcardNotDelivered: the broker kept the probe (it came back by
	// its own topic) but did not deliver it to a wildcard subscription.
	WildcardNotDelivered
	// WildcardUnknown: the broker did not keep the probe at all (not
	// allowed to publish there, or retained messages not kept), so its
	// wildcard delivery could not be checked.
	WildcardUnknown
)

// WildcardWait is how long the probe keeps reading through the wildcard
// before it calls the probe not delivered. The probe was already read back
// by its own topic (which tolerates a clustered broker serving it late:
// NATS, 0.06-0.16 s), so this is a margin, not the wait for the store.
const WildcardWait = time.Second

// ProbeWildcardRetained publishes a small retained probe under the
// prefix's doctor topic (protocol.Topics.Doctor), reads it back by its
// topic (with the connection's read-back wait), then through a wildcard
// subscription to its parent, and clears it. The error is for a probe
// that could not be run (no connection); a probe that was not kept is
// WildcardUnknown with the reason as detail.
func ProbeWildcardRetained(ctx context.Context, p Prober) (WildcardOutcome, string, error) {
	root := p.Topics().Doctor(nonce())
	topic := root + "wildcard"
	// The probe is cleared however this ends, an interruption included
	// (the publish may have reached the broker), within a few seconds.
	clearProbe := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = p.Clear(cctx, topic)
	}
	if err := p.PublishVerified(ctx, topic, []byte("otactl wildcard probe")); err != nil {
		clearProbe()
		if ctx.Err() != nil {
			return WildcardUnknown, "", err
		}
		return WildcardUnknown, err.Error(), nil
	}
	defer clearProbe()
	deadline := time.Now().Add(WildcardWait)
	for {
		found := false
		err := p.ReadRetainedAll(ctx, root+"+", func(t string, _ []byte) {
			found = found || t == topic
		})
		if err != nil {
			return WildcardUnknown, "", err
		}
		if found {
			return WildcardDelivered, "", nil
		}
		if time.Now().After(deadline) {
			return WildcardNotDelivered, fmt.Sprintf("%s is retained but a subscription to %s does not get it", topic, root+"+"), nil
		}
		select {
		case <-ctx.Done():
			return WildcardUnknown, "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WildcardError is the error of a read that found no device while the
// broker does not deliver retained messages to wildcard subscriptions:
// the fleet may not be empty at all.
type WildcardError struct {
	Broker string // " at URL", or empty
	Detail string
}

func (e *WildcardError) Error() string {
	return fmt.Sprintf("the broker%s does not deliver retained messages to wildcard subscriptions, so no device report can be read: %s", e.Broker, e.Detail)
}

// Hint tells what to do about it.
func (e *WildcardError) Hint() string {
	return "otactl needs a broker that delivers retained messages to wildcard subscriptions (RabbitMQ 3.10 does not); run 'otactl doctor' and see docs/brokers.md"
}

// CheckEmpty is the rule for a read that found no device: an empty fleet
// is believed only from a broker that delivers retained messages to
// wildcard subscriptions (ProbeWildcardRetained). Otherwise it is a
// *WildcardError. When the probe could not be kept, the fleet is taken as
// read and warn (if not nil) gets one line saying the broker could not be
// checked. A read that found devices costs nothing.
func CheckEmpty(ctx context.Context, p Prober, devices int, warn func(string)) error {
	if devices > 0 {
		return nil
	}
	outcome, detail, err := ProbeWildcardRetained(ctx, p)
	switch {
	case err != nil:
		return fmt.Errorf("check the broker's wildcard delivery: %w", err)
	case outcome == WildcardNotDelivered:
		return &WildcardError{Broker: brokerName(p), Detail: detail}
	case outcome == WildcardUnknown && warn != nil:
		warn(fmt.Sprintf("no device reports, and whether the broker delivers retained messages to wildcard subscriptions could not be checked: %s", detail))
	}
	return nil
}

// CheckEmpty applies the rule of CheckEmpty to what the source read; its
// warning goes to the source's warnings (SourceOptions.Warnings), as a
// "warning: " line.
func (s *Source) CheckEmpty(ctx context.Context) error {
	return CheckEmpty(ctx, s.client, s.fleet.Len(), func(msg string) {
		s.mu.Lock()
		w := s.warnings
		s.mu.Unlock()
		fmt.Fprintf(w, "warning: %s\n", msg)
	})
}

// brokerName is " at URL" when p tells its broker's URL (an
// *upload.Client does, without credentials).
func brokerName(p Prober) string {
	if b, ok := p.(interface{ Broker() string }); ok {
		return " at " + b.Broker()
	}
	return ""
}

func nonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var _ hint.Hinter = (*WildcardError)(nil)
