package simulator

import (
	"context"
	"fmt"
	"time"

	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
)

// Retries, as a device on the Golioth SDK makes them but bounded: the SDK
// waits 60 s after a failed download, doubles the pause after each
// further failure up to 24 h, and never gives up.
const (
	// DefaultAttempts is how many attempts a device makes at one release
	// (the first and two retries) before it gives up on it.
	DefaultAttempts = 3
	// DefaultRetryPause is the pause before the first retry; it doubles
	// before each further one.
	DefaultRetryPause = 2 * time.Second
)

// failure is why an update attempt failed.
type failure struct {
	state  report.State
	reason report.Reason
	why    string
	// reported says the failure's report was sent already: it was the
	// first report after the connection came back.
	reported bool
}

// update applies component c of manifest m (step 5 of the package
// documentation), and then the newer release that arrived while it was
// waiting to retry, if one did.
func (d *Device) update(ctx context.Context, m *release.Manifest, c *release.Component) {
	for m != nil {
		d.markHandled(m.SequenceNumber)
		d.setPhase(PhaseUpdating)
		if !d.sleep(ctx, d.jitter()) {
			return
		}
		m, c = d.attempts(ctx, m, c)
	}
}

// attempts makes the attempts at component c. A failed attempt is
// reported as the SDK reports it: the failure, then idle (0,0), then idle
// awaiting retry (0,11), all naming the target; after a pause it tries
// again, at most Config.Attempts times in all. After the last failure it
// stays failed: the failure stays its last report, and it acts again only
// on a newer release. A newer release that arrives during a pause is
// returned, to be acted on instead.
func (d *Device) attempts(ctx context.Context, m *release.Manifest, c *release.Component) (*release.Manifest, *release.Component) {
	limit, pause := d.cfg.attempts(), d.cfg.retryPause()
	for n := 1; ; n++ {
		f := d.attempt(ctx, m, c)
		if f == nil || ctx.Err() != nil {
			return nil, nil
		}
		last := n == limit
		if last {
			d.setPhase(PhaseFailed)
		}
		if !f.reported {
			d.publish(ctx, f.state, f.reason, c.Version)
		}
		d.event(Event{Kind: EventFailed, Sequence: m.SequenceNumber, State: f.state, Reason: f.reason, Version: d.Version(), Target: c.Version,
			Attempt: n, Detail: fmt.Sprintf("attempt %d of %d: %s", n, limit, f.why)})
		if last {
			return nil, nil
		}
		d.publish(ctx, report.Idle, report.ReasonReady, c.Version)
		d.publish(ctx, report.Idle, report.ReasonAwaitingRetry, c.Version)
		d.setPhase(PhaseRetrying)
		d.event(Event{Kind: EventRetrying, Sequence: m.SequenceNumber, Reason: report.ReasonAwaitingRetry, Version: d.Version(), Target: c.Version,
			Attempt: n, Detail: fmt.Sprintf("trying again in %s", pause)})
		if !d.pause(ctx, pause) {
			return nil, nil
		}
		d.drain()
		if nm, nc := d.choose(ctx); nm != nil {
			return nm, nc
		}
		d.setPhase(PhaseUpdating)
		pause *= 2
	}
}

// pause waits for dt or until ctx ends (false), keeping the desired
// manifests that arrive meanwhile.
func (d *Device) pause(ctx context.Context, dt time.Duration) bool {
	t := time.NewTimer(dt)
	defer t.Stop()
	var in, closed <-chan struct{}
	if d.conn != nil {
		in, closed = d.conn.inbox(), d.conn.done()
	}
	for {
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		case <-closed:
			// The connection dropped: the device's loop reconnects
			// once the update is over.
			in, closed = nil, nil
		case <-in:
			d.drain()
		}
	}
}

// attempt is one attempt at component c of manifest m: nil when the
// device updated, when ctx ended, or when the new image failed to boot
// (that failure is final, and reported by the old image); otherwise why
// it failed.
func (d *Device) attempt(ctx context.Context, m *release.Manifest, c *release.Component) *failure {
	target := c.Version
	// Before downloading: can the device take this component at all?
	topic, err := d.topics.ComponentURI(c.URI)
	switch {
	case d.inject("type"):
		return &failure{state: report.Downloading, reason: report.ReasonUnsupportedPackageType, why: "injected: unsupported package type " + c.Type}
	case err != nil:
		return &failure{state: report.Downloading, reason: report.ReasonInvalidURI, why: err.Error()}
	case d.inject("uri"):
		return &failure{state: report.Downloading, reason: report.ReasonInvalidURI, why: "injected: invalid uri " + c.URI}
	case d.cfg.FlashSize > 0 && c.Size > d.cfg.FlashSize:
		return &failure{state: report.Downloading, reason: report.ReasonNotEnoughFlash, why: fmt.Sprintf("%d bytes do not fit in %d bytes of flash", c.Size, d.cfg.FlashSize)}
	case d.inject("flash"):
		return &failure{state: report.Downloading, reason: report.ReasonNotEnoughFlash, why: "injected: not enough flash"}
	}

	d.publish(ctx, report.Downloading, report.ReasonReady, target)
	// An injected integrity failure flips a byte in the middle of the
	// image as it streams to flash; the check after the download catches
	// it like any other corruption.
	corrupt := int64(-1)
	if d.inject("integrity") {
		corrupt = c.Size / 2
	}
	im, reason, why := d.download(ctx, topic, c, corrupt)
	if ctx.Err() != nil {
		return nil
	}
	if reason == report.ReasonReady {
		switch {
		case d.inject("ram"):
			reason, why = report.ReasonOutOfRAM, "injected: out of RAM while downloading"
		case d.inject("io"):
			reason, why = report.ReasonIOError, "injected: I/O error writing the image"
		case d.inject("connection"):
			// Really lose the connection; the first report after coming
			// back says why the download failed.
			d.disconnect()
			if !d.sleep(ctx, d.cfg.reboot()) || !d.bootRetrying(ctx, bootReport{report.Downloading, report.ReasonConnectionLost, target}) {
				return nil
			}
			return &failure{state: report.Downloading, reason: report.ReasonConnectionLost, why: "injected: connection lost while downloading", reported: true}
		default:
			reason, why = d.check(im, c)
		}
	}
	if reason != report.ReasonReady {
		return &failure{state: report.Downloading, reason: reason, why: why}
	}
	d.publish(ctx, report.Downloaded, report.ReasonReady, target)
	// Updating: a real device has written the image to its second slot
	// and now hands over to the bootloader.
	d.publish(ctx, report.Updated, report.ReasonReady, target)
	d.reboot(ctx, m, target)
	return nil
}

// reboot boots into the new image: reports (3,1) and then (0,0) on the
// new version, or, when the image fails to boot (an injected update
// failure), comes back on the old one and reports (0,8).
func (d *Device) reboot(ctx context.Context, m *release.Manifest, target string) {
	d.event(Event{Kind: EventReboot, Sequence: m.SequenceNumber, Version: d.Version(), Target: target})
	d.disconnect()
	if !d.sleep(ctx, d.cfg.reboot()) {
		return
	}
	if d.inject("update") {
		// The new image did not boot: the bootloader went back to the old
		// one, which reports the failure.
		if d.bootRetrying(ctx, bootReport{report.Idle, report.ReasonUpdateFailed, target}) {
			d.setPhase(PhaseFailed)
			d.event(Event{Kind: EventFailed, Sequence: m.SequenceNumber, Reason: report.ReasonUpdateFailed, Version: d.Version(), Target: target, Detail: "injected: the new image failed to boot; back on " + d.Version()})
		}
		return
	}
	d.mu.Lock()
	d.version = target
	d.mu.Unlock()
	if !d.bootRetrying(ctx, bootReport{report.Updated, report.ReasonUpdated, ""}) {
		return
	}
	d.publish(ctx, report.Idle, report.ReasonReady, "")
}
