// Package doctor checks brokers for what otactl needs of them: a
// connection, retained messages kept and delivered to wildcard
// subscriptions, topics delivered unchanged, the largest retained message
// kept, the retained-message expiry the broker tells, and, with several
// endpoints, how a retained message published on one reaches the others.
// Each check is one line of the report; see docs/brokers.md.
package doctor

import (
	"context"
	"fmt"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/upload"
)

// The checks, by name.
const (
	CheckConnect     = "connect"
	CheckTopics      = "topics"
	CheckRetained    = "retained"
	CheckWildcard    = "wildcard"
	CheckSize        = "size"
	CheckExpiry      = "expiry"
	CheckPropagation = "propagation"
)

// DefaultSizeBound is how large a retained message the size check tries
// when no size is needed.
const DefaultSizeBound = 1 << 20

// DefaultPropagationTimeout is how long a retained message published on
// the first endpoint may take to be served by another.
const DefaultPropagationTimeout = 30 * time.Second

// Options says what to check.
type Options struct {
	// Connect reaches the first endpoint, where otactl publishes; its
	// credentials, TLS settings and topic prefix serve every endpoint.
	Connect upload.Options
	// Endpoints are the other brokers devices use (--verify-broker).
	Endpoints []string
	// Need is the size of the largest retained message otactl must be
	// able to publish (the largest artifact); 0: none.
	Need int64
	// SizeBound is the largest message the size check tries (default
	// Need, or DefaultSizeBound without one).
	SizeBound int64
	// PropagationTimeout bounds the propagation check (default
	// DefaultPropagationTimeout).
	PropagationTimeout time.Duration
	// Dial connects (default upload.Connect).
	Dial func(ctx context.Context, o upload.Options) (*upload.Client, error)
}

// Check is one line of the report.
type Check struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"`
	OK       bool   `json:"ok"`
	Detail   string `json:"detail"`
	Hint     string `json:"hint,omitempty"`
	// Unknown marks a check the broker gave no answer to (expiry, or a
	// check that could not run); it is not a failure.
	Unknown bool `json:"unknown,omitempty"`
	// Bytes is the size check's largest retained message kept.
	Bytes int64 `json:"bytes,omitempty"`
	// Seconds is the time the propagation check measured.
	Seconds float64 `json:"seconds,omitempty"`
}

// Report is every check, in order: the first endpoint's, each other
// endpoint's, then propagation to each other endpoint.
type Report struct {
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// Failed are the checks that failed.
func (r Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Run checks every endpoint, then propagation from the first to the
// others, and leaves nothing retained: every probe message goes under
// P.u/doctor/{nonce}/ and is cleared. It stops early only when ctx ends.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Dial == nil {
		o.Dial = upload.Connect
	}
	if o.PropagationTimeout <= 0 {
		o.PropagationTimeout = DefaultPropagationTimeout
	}
	if o.SizeBound <= 0 {
		o.SizeBound = DefaultSizeBound
		if o.Need > 0 {
			o.SizeBound = o.Need
		}
	}
	topics, err := protocol.NewTopics(o.Connect.TopicPrefix)
	if err != nil {
		return Report{}, err
	}
	r := &run{o: o, root: topics.Doctor(nonce())}
	urls := append([]string{o.Connect.Broker}, o.Endpoints...)
	var reached []string
	for _, u := range urls {
		if r.endpoint(ctx, u) {
			reached = append(reached, u)
		}
		if ctx.Err() != nil {
			return Report{}, ctx.Err()
		}
	}
	if len(urls) > 1 && len(reached) > 0 && reached[0] == urls[0] {
		r.propagation(ctx, urls[0], reached[1:])
	}
	if ctx.Err() != nil {
		return Report{}, ctx.Err()
	}
	rep := Report{OK: true, Checks: r.checks}
	rep.OK = len(rep.Failed()) == 0
	return rep, nil
}

// run is one Run's state.
type run struct {
	o      Options
	root   string // P.u/doctor/{nonce}/
	checks []Check
}

func (r *run) add(c Check) { r.checks = append(r.checks, c) }

// options are the connection options for url.
func (r *run) options(url string) upload.Options {
	o := r.o.Connect
	o.Broker = url
	// A --client-id given is kept: brokers whose access rules are keyed on
	// it (a device user of 'otactl broker --users') refuse any other. The
	// doctor's connections with it are to different brokers, or one after
	// another, so they do not take each other's session over.
	return o
}

// endpoint runs every check of one endpoint and says whether it
// connected.
func (r *run) endpoint(ctx context.Context, url string) bool {
	shown := display(url)
	start := time.Now()
	c, err := r.o.Dial(ctx, r.options(url))
	if err != nil {
		h := hint.Of(err)
		if h == "" {
			h = "check the URL, credentials and TLS settings: every endpoint takes the same ones"
		}
		r.add(Check{Name: CheckConnect, Endpoint: shown, Detail: oneLine(err), Hint: text.OneLine(h)})
		return false
	}
	r.add(Check{Name: CheckConnect, Endpoint: shown, OK: true, Detail: fmt.Sprintf("connected in %s", round(time.Since(start)))})
	e := &endpoint{run: r, url: url, shown: shown, c: c}
	defer func() { e.c.Close() }() // the size check may reconnect
	if !e.topics(ctx) {
		// Reads match topics: on a broker that rewrites them every
		// other check would only wait for messages that come renamed.
		return true
	}
	e.retained(ctx)
	e.wildcard(ctx)
	e.size(ctx)
	e.expiry(ctx)
	return true
}

// oneLine is err's message on one printable line.
func oneLine(err error) string { return text.Printable(text.OneLine(err.Error())) }

// round is d to the millisecond, at least 1 ms.
func round(d time.Duration) time.Duration { return max(d.Round(time.Millisecond), time.Millisecond) }
