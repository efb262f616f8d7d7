package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/upload"
)

// liveWait is how long the topics check waits for its message.
const liveWait = 5 * time.Second

// endpoint is the checks of one connected endpoint.
type endpoint struct {
	*run
	url, shown string
	c          *upload.Client
}

func (e *endpoint) pass(name, detail string) {
	e.add(Check{Name: name, Endpoint: e.shown, OK: true, Detail: detail})
}

func (e *endpoint) fail(name, detail, hint string) {
	e.add(Check{Name: name, Endpoint: e.shown, Detail: detail, Hint: hint})
}

// topics publishes a message on a topic with dots and an '@', as a
// component's, while subscribed to it and to the same topic with every
// '.' made '/', and says which one it arrives on. It says whether the
// other checks can run: false when topics are rewritten.
func (e *endpoint) topics(ctx context.Context) bool {
	topic := e.root + "topics/main@1.2.3"
	rewritten := strings.ReplaceAll(topic, ".", "/")
	sub, cancel := context.WithTimeout(ctx, liveWait)
	defer cancel()
	out := make(chan upload.Message, 8)
	if err := e.c.Subscribe(sub, []string{topic, rewritten}, out); err != nil {
		e.fail(CheckTopics, oneLine(err), "")
		return true
	}
	payload := []byte("otactl doctor topics")
	err := e.c.PublishRetained(ctx, topic, payload)
	defer e.clear(topic)
	if err != nil {
		e.fail(CheckTopics, oneLine(err), "")
		return true
	}
	for {
		select {
		case m, ok := <-out:
			if !ok {
				e.fail(CheckTopics, fmt.Sprintf("a message published on %s was not delivered to a subscription to it within %s", topic, liveWait),
					"the broker drops or rewrites topics: devices would never see releases")
				return true
			}
			if string(m.Payload) != string(payload) {
				continue
			}
			if m.Topic == topic {
				e.pass(CheckTopics, "topics are delivered unchanged ('.', '@' and '/' kept)")
				return true
			}
			e.fail(CheckTopics, fmt.Sprintf("topics are rewritten: %s arrives as %s", topic, m.Topic),
				"otactl's topics hold '.' (.u/c/main@1.2.3): a broker that rewrites it (RabbitMQ 3.10 makes '.' '/') cannot serve devices; the other checks were skipped")
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// retained publishes a small retained message and reads it back by its
// topic (with the connection's read-back wait).
func (e *endpoint) retained(ctx context.Context) {
	topic := e.root + "retained"
	start := time.Now()
	err := e.c.PublishVerified(ctx, topic, []byte("otactl doctor retained"))
	defer e.clear(topic)
	if err != nil {
		e.fail(CheckRetained, "retained messages are not kept: "+oneLine(err),
			"otactl publishes releases as retained messages: enable retained messages on the broker")
		return
	}
	e.pass(CheckRetained, fmt.Sprintf("a retained message is kept and served back (%s)", round(time.Since(start))))
}

// wildcard is fleet.ProbeWildcardRetained: the rule watch and rollout
// status apply to an empty fleet.
func (e *endpoint) wildcard(ctx context.Context) {
	outcome, detail, err := fleet.ProbeWildcardRetained(ctx, e.c)
	switch {
	case err != nil:
		e.fail(CheckWildcard, oneLine(err), "")
	case outcome == fleet.WildcardDelivered:
		e.pass(CheckWildcard, "retained messages are delivered to wildcard subscriptions")
	case outcome == fleet.WildcardNotDelivered:
		e.fail(CheckWildcard, "retained messages are not delivered to wildcard subscriptions: "+detail,
			"otactl reads device reports and artifacts through wildcards: watch, rollout and --percent would see no device")
	default:
		e.fail(CheckWildcard, "not checked: the probe was not kept: "+detail, "")
	}
}

// expiry reads the broker's $SYS topics for a retained-message expiry.
func (e *endpoint) expiry(ctx context.Context) {
	found, err := sysExpiry(ctx, e.c)
	switch {
	case err != nil:
		e.add(Check{Name: CheckExpiry, Endpoint: e.shown, OK: true, Unknown: true, Detail: "unknown: $SYS not readable: " + oneLine(err)})
	case len(found) == 0:
		e.add(Check{Name: CheckExpiry, Endpoint: e.shown, OK: true, Unknown: true,
			Detail: "unknown: the broker tells no retained-message expiry in $SYS; make sure it keeps retained messages without one"})
	default:
		e.add(Check{Name: CheckExpiry, Endpoint: e.shown, OK: true, Detail: "the broker says " + strings.Join(found, ", ")})
	}
}

// SysReader reads retained messages under a filter.
type SysReader interface {
	ReadRetainedAll(ctx context.Context, filter string, fn func(topic string, payload []byte)) error
}

// sysExpiry is every "topic = value" under $SYS/# whose topic speaks of
// the expiry of retained messages or of messages (not of sessions or
// clients: mosquitto's $SYS/broker/clients/expired), sorted.
func sysExpiry(ctx context.Context, r SysReader) ([]string, error) {
	var found []string
	err := r.ReadRetainedAll(ctx, "$SYS/#", func(topic string, payload []byte) {
		l := strings.ToLower(topic)
		if strings.Contains(l, "expir") && (strings.Contains(l, "retain") || strings.Contains(l, "message")) {
			found = append(found, text.Printable(topic)+" = "+text.Printable(text.OneLine(string(payload))))
		}
	})
	sort.Strings(found)
	return found, err
}

// clear clears a probe topic, even when ctx has ended.
func (e *endpoint) clear(topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = e.c.Clear(ctx, topic)
}

// probe is a retained message the propagation check publishes.
type probe struct {
	topic   string
	payload []byte
}

// propagation publishes two retained messages on the first endpoint, one
// under the doctor's root (as a release's topics are, under P.u/) and the
// empty manifest on the desired topic of a device no one has
// (Pdevices/otactl-doctor-NONCE/.u/desired: a bridge must carry devices'
// desired topics too), and measures when each other endpoint serves both
// (reading every 50 ms).
func (r *run) propagation(ctx context.Context, from string, to []string) {
	src, err := r.o.Dial(ctx, r.options(from))
	if err != nil {
		return // its connect check failed already
	}
	defer src.Close()
	device, err := src.Topics().Device("otactl-doctor-" + nonce())
	if err != nil {
		panic(err) // a valid id
	}
	probes := []probe{
		{r.root + "propagation", []byte("otactl doctor propagation " + nonce())},
		{device, []byte("{}")},
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, p := range probes {
			_ = src.Clear(ctx, p.topic)
		}
	}()
	for _, p := range probes {
		if err := src.PublishRetained(ctx, p.topic, p.payload); err != nil {
			for _, u := range to {
				r.add(Check{Name: CheckPropagation, Endpoint: display(u), Detail: "not measured: " + oneLine(err)})
			}
			return
		}
	}
	// Every endpoint is awaited at once, so that one slow or unbridged
	// endpoint neither adds its wait to the next one's time nor uses up
	// its deadline.
	acked := time.Now()
	checks := make([]Check, len(to))
	var wg sync.WaitGroup
	for i, u := range to {
		wg.Add(1)
		go func() {
			defer wg.Done()
			checks[i] = r.awaitPropagation(ctx, from, u, probes, acked)
		}()
	}
	wg.Wait()
	for _, c := range checks {
		r.add(c)
	}
}

// awaitPropagation waits until url serves every probe.
func (r *run) awaitPropagation(ctx context.Context, from, url string, probes []probe, since time.Time) Check {
	c := Check{Name: CheckPropagation, Endpoint: display(url)}
	dst, err := r.o.Dial(ctx, r.options(url))
	if err != nil {
		c.Detail = "not measured: " + oneLine(err)
		return c
	}
	defer dst.Close()
	deadline := since.Add(r.o.PropagationTimeout)
	missing := probes
	for {
		var still []probe
		for _, p := range missing {
			got, _, err := dst.ReadRetained(ctx, p.topic)
			if err != nil || string(got) != string(p.payload) {
				still = append(still, p)
			}
		}
		if missing = still; len(missing) == 0 {
			d := time.Since(since)
			c.OK, c.Seconds = true, d.Seconds()
			c.Detail = fmt.Sprintf("retained messages published on %s (under .u/ and on a device's desired topic) are served here %.3f s after they were acknowledged", display(from), d.Seconds())
			return c
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			var names []string
			for _, p := range missing {
				names = append(names, p.topic)
			}
			c.Detail = fmt.Sprintf("retained messages published on %s are not served here after %s: %s", display(from), r.o.PropagationTimeout, strings.Join(names, ", "))
			c.Hint = "devices connected here would not get releases: check the cluster or bridge; a bridge must carry .u/#, cohorts/+/.u/desired and devices/+/.u/desired in (docs/brokers.md)"
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// display is url without credentials.
func display(url string) string {
	if u, err := upload.BrokerURL(url); err == nil {
		u.User = nil
		return u.String()
	}
	return url
}

func nonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
