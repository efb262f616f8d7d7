package simulator

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// Event kinds.
const (
	EventConnected = "connected" // connected and subscribed to its desired topics
	EventReport    = "report"    // published a state report
	EventIgnored   = "ignored"   // ignored a manifest: replayed, expired, unreadable, nothing to do
	EventRefused   = "refused"   // refused a manifest that failed verification (and reported it)
	EventFailed    = "failed"    // an update attempt failed (and was reported)
	EventRetrying  = "retrying"  // awaiting a retry after a failed attempt (and reported so)
	EventReboot    = "reboot"    // rebooting into the new image
	EventError     = "error"     // could not reach the broker or publish
	// EventKeySet is a new key set accepted: manifests are verified with
	// its release keys from now on.
	EventKeySet = "keyset"
	// EventKeySetRefused is a key set refused (older, badly signed or
	// unreadable): the device keeps the one it follows. No state report:
	// reports are about firmware, and the device's firmware is unchanged.
	EventKeySetRefused = "keyset-refused"
)

// Event is one thing a device did.
type Event struct {
	Time     time.Time     `json:"time"`
	Device   string        `json:"device"`
	Kind     string        `json:"kind"`
	State    report.State  `json:"state"`
	Reason   report.Reason `json:"reason"`
	Version  string        `json:"version,omitempty"`
	Target   string        `json:"target,omitempty"`
	Sequence int64         `json:"sequenceNumber,omitempty"`
	// Attempt is, for a failed or retrying event, the number of the
	// attempt at the release that failed, from 1.
	Attempt int    `json:"attempt,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// Phases a device is in, for Fleet.Status.
const (
	PhaseOffline  = "offline"
	PhaseIdle     = "idle"
	PhaseUpdating = "updating"
	PhaseRetrying = "retrying" // a failed attempt, awaiting the next
	PhaseFailed   = "failed"
)

// Device is one simulated device. Its fields below the mutex are what a
// real device would keep in flash: they survive its simulated reboots.
type Device struct {
	ID     string
	cfg    *Config
	topics protocol.Topics
	enc    string
	short  bool
	rng    *rand.Rand

	mu      sync.Mutex
	version string // the running version
	phase   string
	handled int64 // the highest sequence number acted on: anti-rollback
	// refused remembers the manifests (by the SHA-256 of their bytes)
	// already refused and reported, so that their redelivery after a
	// reconnect is not reported again.
	refused map[[32]byte]bool
	// trust is the key set the device follows, and keySets the key sets
	// (by the SHA-256 of their bytes) already judged.
	trust   trust
	keySets map[[32]byte]bool
	// blocks is a download in blocks cut short: what it verified is kept
	// (in flash) for the next try.
	blocks *resumable

	// What a device holds in RAM: lost on every reboot.
	conn      transport
	manifests map[string]held // by desired topic
	ignored   map[string]bool // (topic, sequence, why) already logged

	// How it connects: its broker, and the fleet's keeper and figures.
	ep     *endpoint
	keeper *keeper
	pacer  *pacer
	stats  *Stats
}

// held is the manifest retained on one desired topic, or why it is
// unreadable, and the SHA-256 of its bytes.
type held struct {
	m   *release.Manifest
	err error
	sum [32]byte
}

func newDevice(cfg *Config, topics protocol.Topics, id string, index int) *Device {
	enc, short := cfg.reportFormat(index)
	return &Device{
		ID:      id,
		cfg:     cfg,
		topics:  topics,
		enc:     enc,
		short:   short,
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(index))),
		version: cfg.Version,
		phase:   PhaseOffline,
		refused: map[[32]byte]bool{},
		trust:   provisioned(cfg),
		keySets: map[[32]byte]bool{},
	}
}

// Version is the version the device runs now.
func (d *Device) Version() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version
}

// Phase is what the device is doing now: one of the Phase constants.
func (d *Device) Phase() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.phase
}

func (d *Device) setPhase(p string) {
	d.mu.Lock()
	d.phase = p
	d.mu.Unlock()
}

func (d *Device) event(e Event) {
	d.stats.count(e.Kind)
	if d.cfg.OnEvent == nil {
		return
	}
	e.Time = d.cfg.now()
	e.Device = d.ID
	d.cfg.OnEvent(e)
}

// run is the device's life: boot, then act on desired manifests until ctx
// ends. ready is called once, after the first boot.
func (d *Device) run(ctx context.Context, ready func()) {
	defer d.powerOff()
	if !d.bootRetrying(ctx, bootReport{report.Idle, report.ReasonReady, ""}) {
		return
	}
	ready()
	d.loop(ctx)
}

// loop acts on desired manifests until ctx ends (steps 3 to 5).
func (d *Device) loop(ctx context.Context) {
	defer d.powerOff()
	for d.conn != nil {
		select {
		case <-ctx.Done():
			return
		case <-d.conn.done():
			// The connection dropped: connect afresh.
			if ctx.Err() != nil {
				return
			}
			d.event(Event{Kind: EventError, Detail: "connection closed: " + errString(d.conn.err())})
			d.disconnect()
			if !d.bootRetrying(ctx, bootReport{report.Idle, report.ReasonReady, ""}) {
				return
			}
		case <-d.conn.inbox():
			d.drain()
			if m, c := d.choose(ctx); m != nil {
				d.update(ctx, m, c)
			}
		}
	}
}

// bootReport is the first report after connecting: (0,0) on a plain boot,
// (3,1) after booting a new image, or the failure that made the device
// reconnect.
type bootReport struct {
	state  report.State
	reason report.Reason
	target string
}

// boot connects, reports its state and subscribes to the desired topics
// (steps 1 and 2 of the package documentation).
func (d *Device) boot(ctx context.Context, first bootReport) error {
	if !d.pacer.wait(ctx, d) {
		return ctx.Err()
	}
	c, err := dialLight(ctx, d.ep, d.keeper, d.stats, d.ID, d.cfg.Conn.Username, d.cfg.Conn.Password)
	if ctx.Err() == nil {
		d.stats.connected(err)
	}
	if err != nil {
		return err
	}
	d.conn = c
	d.manifests = map[string]held{}
	d.ignored = map[string]bool{}
	if err := d.report(ctx, first.state, first.reason, first.target); err != nil {
		return err
	}
	filters := []string{d.topics.Fleet()}
	if len(d.cfg.Roots) > 0 {
		// First, so that its retained key set comes before the manifests.
		filters = []string{d.topics.KeySet(), d.topics.Fleet()}
	}
	if d.cfg.Cohort != "" {
		t, err := d.topics.Cohort(d.cfg.Cohort)
		if err != nil {
			return err
		}
		filters = append(filters, t)
	}
	t, err := d.topics.Device(d.ID)
	if err != nil {
		return err
	}
	filters = append(filters, t)
	if err := c.subscribe(ctx, filters...); err != nil {
		return err
	}
	d.setPhase(PhaseIdle)
	d.event(Event{Kind: EventConnected, Version: d.Version(), Detail: fmt.Sprintf("report %s/%s", d.enc, map[bool]string{true: "short", false: "long"}[d.short])})
	return nil
}

// bootRetrying boots, trying again with growing pauses while the broker
// cannot be reached; false when ctx ended first.
func (d *Device) bootRetrying(ctx context.Context, first bootReport) bool {
	pause := time.Second
	for {
		err := d.boot(ctx, first)
		if err == nil {
			return true
		}
		d.disconnect()
		if ctx.Err() != nil {
			return false
		}
		d.event(Event{Kind: EventError, Detail: err.Error()})
		if !d.sleep(ctx, pause+time.Duration(d.rng.Int64N(int64(pause)))) {
			return false
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// powerOff ends the simulation of the device: it disconnects and keeps
// the phase it was in, for the fleet's final status.
func (d *Device) powerOff() {
	if d.conn != nil {
		d.conn.close()
		d.conn = nil
	}
}

func (d *Device) disconnect() {
	d.powerOff()
	d.setPhase(PhaseOffline)
}

// take records the manifest a desired topic now holds.
func (d *Device) take(msg upload.Message) {
	if msg.Topic == d.topics.KeySet() {
		d.takeKeySet(msg.Payload)
		return
	}
	if len(msg.Payload) == 0 {
		delete(d.manifests, msg.Topic) // the topic was cleared
		return
	}
	m, err := release.Parse(msg.Payload)
	if errors.Is(err, release.ErrNoRelease) {
		delete(d.manifests, msg.Topic) // "{}": no release
		return
	}
	d.manifests[msg.Topic] = held{m: m, err: err, sum: sha256.Sum256(msg.Payload)}
}

// drain takes every desired message already queued, so that a burst of
// retained manifests is decided on together.
func (d *Device) drain() {
	if d.conn == nil {
		return
	}
	for _, m := range d.conn.take() {
		d.take(m)
	}
}

// choose returns the valid manifest with the highest sequence number above
// the one already handled, and its component for the device's package
// (step 3). It reports manifests that fail verification.
func (d *Device) choose(ctx context.Context) (*release.Manifest, *release.Component) {
	var best *release.Manifest
	for topic, h := range d.manifests {
		if h.err != nil {
			d.ignore(topic, 0, "unreadable manifest: "+h.err.Error())
			continue
		}
		m := h.m
		d.mu.Lock()
		handled, refused := d.handled, d.refused[h.sum]
		d.mu.Unlock()
		if m.SequenceNumber <= handled {
			d.ignore(topic, m.SequenceNumber, fmt.Sprintf("sequence number %d is not above %d, the last one handled", m.SequenceNumber, handled))
			continue
		}
		if refused {
			continue
		}
		keys, threshold, ok := d.releaseKeys()
		if !ok {
			d.ignore(topic, m.SequenceNumber, "no release keys yet: waiting for a key set")
			continue
		}
		v := release.Verify(ctx, m, release.VerifyOptions{Keys: keys, Threshold: threshold, At: d.cfg.now()})
		if v.Expired {
			d.ignore(topic, m.SequenceNumber, "expired at "+m.Expires)
			continue
		}
		if !v.OK {
			d.refuse(ctx, h, v.Err())
			continue
		}
		if best == nil || m.SequenceNumber > best.SequenceNumber {
			best = m
		}
	}
	if best == nil {
		return nil, nil
	}
	for i := range best.Components {
		if best.Components[i].Package == d.cfg.Package {
			c := &best.Components[i]
			if c.Version == d.Version() {
				d.markHandled(best.SequenceNumber)
				d.ignore("", best.SequenceNumber, "already running "+c.Version)
				return nil, nil
			}
			return best, c
		}
	}
	d.markHandled(best.SequenceNumber)
	d.ignore("", best.SequenceNumber, "no component for package "+d.cfg.Package)
	return nil, nil
}

func (d *Device) markHandled(seq int64) {
	d.mu.Lock()
	d.handled = max(d.handled, seq)
	d.mu.Unlock()
}

// ignore logs, once per topic, manifest and reason, a manifest the device
// does not act on.
func (d *Device) ignore(topic string, seq int64, why string) {
	key := fmt.Sprintf("%s\x00%d\x00%s", topic, seq, why)
	if d.ignored[key] {
		return
	}
	d.ignored[key] = true
	d.event(Event{Kind: EventIgnored, Sequence: seq, Version: d.Version(), Detail: why})
}

// refuse reports a manifest that failed verification: state idle, reason
// 8, with the version it asked for as target.
func (d *Device) refuse(ctx context.Context, h held, why error) {
	m := h.m
	d.mu.Lock()
	d.refused[h.sum] = true
	d.mu.Unlock()
	target := ""
	for _, c := range m.Components {
		if c.Package == d.cfg.Package {
			target = c.Version
		}
	}
	d.event(Event{Kind: EventRefused, Sequence: m.SequenceNumber, Reason: report.ReasonUpdateFailed, Version: d.Version(), Target: target, Detail: why.Error()})
	d.publish(ctx, report.Idle, report.ReasonUpdateFailed, target)
}

// inject reports whether the injected failure kind strikes now.
func (d *Device) inject(kind string) bool {
	p := d.cfg.Failures[kind]
	return p > 0 && d.rng.Float64() < p
}

func (d *Device) jitter() time.Duration {
	if d.cfg.Jitter <= 0 {
		return 0
	}
	return time.Duration(d.rng.Int64N(int64(d.cfg.Jitter)))
}

// sleep waits for dt or until ctx ends; false when ctx ended.
func (d *Device) sleep(ctx context.Context, dt time.Duration) bool {
	if dt <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(dt)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func errString(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Config) reboot() time.Duration {
	if c.Reboot > 0 {
		return c.Reboot
	}
	return 500 * time.Millisecond
}

func (c *Config) attempts() int {
	if c.Attempts > 0 {
		return c.Attempts
	}
	return DefaultAttempts
}

func (c *Config) retryPause() time.Duration {
	if c.RetryPause > 0 {
		return c.RetryPause
	}
	return DefaultRetryPause
}

func (c *Config) downloadTimeout() time.Duration {
	if c.DownloadTimeout > 0 {
		return c.DownloadTimeout
	}
	return 30 * time.Second
}
