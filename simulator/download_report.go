package simulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// download fetches the component's retained message: the device subscribes
// to the topic its uri names and to its block index, and takes the first
// message there; an index means the artifact comes in blocks
// (downloadBlocks). A reason other than ReasonReady says why it failed.
func (d *Device) download(ctx context.Context, topic string, c *release.Component) ([]byte, report.Reason, string) {
	start := time.Now()
	timeout := d.cfg.downloadTimeout() + time.Duration(c.Size/(128<<10))*time.Second
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := make(chan upload.Message, 1)
	index := upload.BlockIndexTopic(topic)
	if err := d.client.Subscribe(dctx, []string{index, topic}, out); err != nil {
		var refused *upload.RefusedError
		if errors.As(err, &refused) {
			return nil, report.ReasonInvalidURI, "the broker refused the subscription to " + topic
		}
		return nil, report.ReasonConnectionLost, err.Error()
	}
	var image []byte
	blocked := false
	for m := range out {
		if (m.Topic == topic || m.Topic == index) && len(m.Payload) > 0 {
			image, blocked = m.Payload, m.Topic == index
			break
		}
	}
	cancel()
	if blocked {
		var reason report.Reason
		var why string
		if image, reason, why = d.downloadBlocks(ctx, topic, image, c, timeout); reason != report.ReasonReady {
			return nil, reason, why
		}
	}
	if image == nil {
		if ctx.Err() != nil {
			return nil, report.ReasonConnectionLost, ctx.Err().Error()
		}
		return nil, report.ReasonInvalidURI, fmt.Sprintf("nothing retained on %s after %s", topic, timeout)
	}
	// Simulated link speed: the download takes at least size/speed.
	if d.cfg.Speed > 0 {
		need := time.Duration(float64(len(image)) / float64(d.cfg.Speed) * float64(time.Second))
		if !d.sleep(ctx, need-time.Since(start)) {
			return nil, report.ReasonConnectionLost, ctx.Err().Error()
		}
	}
	return image, report.ReasonReady, ""
}

// check compares the downloaded image with the manifest's size and
// SHA-256. An injected integrity failure corrupts the device's copy first,
// and the check catches it like any other corruption.
func (d *Device) check(image []byte, c *release.Component) (report.Reason, string) {
	if d.inject("integrity") {
		image = bytes.Clone(image)
		image[len(image)/2] ^= 0x5a
	}
	if int64(len(image)) != c.Size {
		return report.ReasonIntegrityCheckFailed, fmt.Sprintf("downloaded %d bytes, the manifest says %d", len(image), c.Size)
	}
	sum := sha256.Sum256(image)
	if got := hex.EncodeToString(sum[:]); got != c.Hash {
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
	if d.client == nil {
		return upload.ErrClosed
	}
	if err := d.client.PublishRetained(ctx, topic, payload); err != nil {
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
