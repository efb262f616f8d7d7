package simulator

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// download fetches component c into an image, as it streams to flash:
// the device subscribes to the topic its uri names and to its block
// index, and streams the first message there; an index means the
// artifact comes in blocks (downloadBlocks), and a download in blocks cut
// short is resumed. corrupt, when not negative, is the offset of the byte
// an injected integrity failure flips. A reason other than ReasonReady
// says why it failed.
func (d *Device) download(ctx context.Context, topic string, c *release.Component, corrupt int64) (*streamedImage, report.Reason, string) {
	start := time.Now()
	timeout := d.cfg.downloadTimeout() + time.Duration(c.Size/(128<<10))*time.Second
	im, from := newImage(corrupt), int64(0)
	r := d.blocks
	resuming := r != nil && r.dl.Hash == c.Hash
	// A resumed download asks for the index alone: the whole artifact
	// would come again with it.
	index := &capped{max: maxIndexSize}
	topics := []string{upload.BlockIndexTopic(topic), topic}
	if resuming {
		topics = topics[:1]
	}
	to := func(t string) io.Writer {
		if t == topic {
			return im
		}
		return index
	}
	got, reason, why := d.receive(ctx, timeout, to, topics...)
	if reason == report.ReasonInvalidURI && resuming {
		// The index is gone: the whole artifact, afresh.
		d.blocks = nil
		got, reason, why = d.receive(ctx, timeout, to, topic)
	}
	if reason == report.ReasonReady && got != topic {
		if resuming {
			from = r.im.n
		}
		im, reason, why = d.downloadBlocks(ctx, topic, index.b, c, corrupt)
		if im != nil && (r == nil || im != r.im) {
			from = 0
		}
	}
	if reason != report.ReasonReady {
		return nil, reason, why
	}
	// Simulated link speed: the download takes at least size/speed.
	if d.cfg.Speed > 0 {
		need := time.Duration(float64(im.n-from) / float64(d.cfg.Speed) * float64(time.Second))
		if !d.sleep(ctx, need-time.Since(start)) {
			return nil, report.ReasonConnectionLost, ctx.Err().Error()
		}
	}
	return im, report.ReasonReady, ""
}

// receive streams the first message retained on one of topics into the
// writer to returns for it, within timeout, and returns its topic. A
// reason other than ReasonReady says why nothing came.
func (d *Device) receive(ctx context.Context, timeout time.Duration, to func(string) io.Writer, topics ...string) (string, report.Reason, string) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if d.conn == nil {
		return "", report.ReasonConnectionLost, upload.ErrClosed.Error()
	}
	got, _, err := d.conn.download(dctx, to, topics...)
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		return "", report.ReasonInvalidURI, refused.Error()
	case errors.Is(err, errNothingRetained) && ctx.Err() == nil:
		return "", report.ReasonInvalidURI, fmt.Sprintf("nothing retained on %s after %s", topics[len(topics)-1], timeout)
	case ctx.Err() != nil:
		return "", report.ReasonConnectionLost, ctx.Err().Error()
	case err != nil:
		return "", report.ReasonConnectionLost, err.Error()
	}
	return got, report.ReasonReady, ""
}

// check compares the downloaded image with the manifest's size and
// SHA-256. An injected integrity failure corrupted a byte of it on the
// way, and the check catches it like any other corruption.
func (d *Device) check(im *streamedImage, c *release.Component) (report.Reason, string) {
	if im.n != c.Size {
		return report.ReasonIntegrityCheckFailed, fmt.Sprintf("downloaded %d bytes, the manifest says %d", im.n, c.Size)
	}
	if got := hex.EncodeToString(im.sum.Sum(nil)); got != c.Hash {
		return report.ReasonIntegrityCheckFailed, fmt.Sprintf("SHA-256 %s..., the manifest says %s...", got[:12], c.Hash[:min(12, len(c.Hash))])
	}
	return report.ReasonReady, ""
}

// report publishes a retained state report. target is left out when "".
func (d *Device) report(ctx context.Context, state report.State, reason report.Reason, target string) error {
	r := report.Report{Package: d.cfg.Package, State: state, Reason: reason, Version: d.Version(), Target: target}
	payload, err := report.Encode(r, d.enc, d.short)
	if err != nil {
		return err
	}
	topic, err := d.topics.Report(d.ID, d.cfg.Package)
	if err != nil {
		return err
	}
	if d.conn == nil {
		return upload.ErrClosed
	}
	if err := d.conn.publishRetained(ctx, topic, payload); err != nil {
		d.stats.count(statReportError)
		return err
	}
	d.event(Event{Kind: EventReport, State: state, Reason: reason, Version: r.Version, Target: target})
	return nil
}

// publish reports, and when the connection has closed, reconnects once and
// reports again. A report that still fails is logged: the device goes on.
func (d *Device) publish(ctx context.Context, state report.State, reason report.Reason, target string) {
	err := d.report(ctx, state, reason, target)
	if errors.Is(err, upload.ErrClosed) && ctx.Err() == nil {
		d.disconnect()
		if d.bootRetrying(ctx, bootReport{report.Idle, report.ReasonReady, ""}) {
			err = d.report(ctx, state, reason, target)
		}
	}
	if err != nil && ctx.Err() == nil {
		d.event(Event{Kind: EventError, Detail: err.Error()})
	}
}
