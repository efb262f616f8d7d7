package simulator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// The device's side of block artifacts (docs/protocol.md#block-artifacts),
// independent of how messages reach it: given a way to fetch the message
// retained on a topic, BlockDownload fetches an artifact's blocks in order
// into a sink, checks each against the index and the whole against the
// manifest, and keeps what it verified across dropped connections, so a
// retry fetches only the rest.

// Fetch returns the message retained on topic, and false when there is
// none. An error is a lost connection (the download can be resumed), or a
// *refusedError when the broker refused the subscription.
type Fetch func(ctx context.Context, topic string) ([]byte, bool, error)

// BlockDownload is one component's download in blocks, resumable.
type BlockDownload struct {
	Index *upload.BlockIndex
	// Hash is the component's hash (manifest), which the download is for.
	Hash string
	// Next is the first block not yet verified: blocks before it are in
	// the sink, and hashed.
	Next int
	// Fetches counts the blocks fetched, verified or not.
	Fetches int
	sink    io.Writer
	whole   hash.Hash
}

// NewBlockDownload starts downloading component c in blocks as x describes
// them, into sink. An index that is not for c's bytes is reason 5.
func NewBlockDownload(x *upload.BlockIndex, c *release.Component, sink io.Writer) (*BlockDownload, report.Reason, string) {
	if x.Size != c.Size || x.SHA256 != c.Hash {
		return nil, report.ReasonIntegrityCheckFailed, fmt.Sprintf("the block index is for %d bytes with SHA-256 %s..., the manifest says %d bytes, %s...", x.Size, x.SHA256[:12], c.Size, c.Hash[:min(12, len(c.Hash))])
	}
	return &BlockDownload{Index: x, Hash: c.Hash, sink: sink, whole: sha256.New()}, report.ReasonReady, ""
}

// Done reports whether every block was fetched and verified.
func (b *BlockDownload) Done() bool { return b.Next == b.Index.Count }

// Resume fetches the blocks not yet verified from the artifact at topic,
// in order. A block that does not match the index is reason 5 (it is
// fetched again on the next try); a fetch that fails is reason 4,
// connection lost, and the blocks verified so far are kept; a missing
// block, or one whose subscription the broker refused, is reason 7 (as
// for the artifact's own topic). Once the last block is in, the whole is
// checked against the manifest's hash (reason 5).
func (b *BlockDownload) Resume(ctx context.Context, fetch Fetch, topic string) (report.Reason, string) {
	x := b.Index
	for !b.Done() {
		bt := upload.BlockTopic(topic, b.Next)
		payload, found, err := fetch(ctx, bt)
		var refused *refusedError
		if errors.As(err, &refused) {
			return report.ReasonInvalidURI, fmt.Sprintf("block %d of %d: %v", b.Next, x.Count, err)
		}
		if err != nil {
			return report.ReasonConnectionLost, fmt.Sprintf("block %d of %d: %v", b.Next, x.Count, err)
		}
		b.Fetches++
		if !found {
			return report.ReasonInvalidURI, fmt.Sprintf("nothing retained on %s", bt)
		}
		if err := upload.CheckBlock(x, b.Next, payload, true); err != nil {
			return report.ReasonIntegrityCheckFailed, err.Error()
		}
		if _, err := b.sink.Write(payload); err != nil {
			return report.ReasonIOError, fmt.Sprintf("writing block %d: %v", b.Next, err)
		}
		b.whole.Write(payload)
		b.Next++
	}
	if got := hex.EncodeToString(b.whole.Sum(nil)); got != b.Hash {
		return report.ReasonIntegrityCheckFailed, fmt.Sprintf("the blocks put together have SHA-256 %s..., the manifest says %s...", got[:12], b.Hash[:min(12, len(b.Hash))])
	}
	return report.ReasonReady, ""
}

// resumable is a download in blocks cut short, kept by the device (in
// flash) for its next try: what was verified, and the image it went to.
type resumable struct {
	dl *BlockDownload
	im *streamedImage
}

// maxIndexSize bounds the index a device keeps while it decodes it: more
// than DecodeBlockIndex takes, so that it refuses a longer one.
const maxIndexSize = upload.MaxBlocks*80 + 1024

// downloadBlocks is the simulator's download of component c in blocks,
// from the index it received, streamed into an image as the blocks are
// verified: it resumes the device's download of the same bytes in blocks
// of the same size when there is one, else starts one (corrupt as for
// download). It returns the image it wrote. The download is kept after a
// dropped connection or a missing block, to be resumed; it is dropped once
// complete or after an integrity failure, so that the next try starts over.
func (d *Device) downloadBlocks(ctx context.Context, topic string, index []byte, c *release.Component, corrupt int64) (*streamedImage, report.Reason, string) {
	x, err := upload.DecodeBlockIndex(index)
	if err != nil {
		return nil, report.ReasonIntegrityCheckFailed, err.Error()
	}
	r := d.blocks
	if r == nil || r.dl.Hash != c.Hash || r.dl.Index.BlockSize != x.BlockSize || r.dl.Index.SHA256 != x.SHA256 {
		r = &resumable{im: newImage(corrupt)}
		var reason report.Reason
		var why string
		if r.dl, reason, why = NewBlockDownload(x, c, r.im); r.dl == nil {
			return nil, reason, why
		}
	} else {
		r.im.corruptFrom(corrupt)
	}
	d.blocks = r
	timeout := d.cfg.downloadTimeout() + time.Duration(x.BlockSize/(128<<10))*time.Second
	reason, why := r.dl.Resume(ctx, d.fetcher(timeout, x), topic)
	if reason == report.ReasonReady || reason == report.ReasonIntegrityCheckFailed {
		d.blocks = nil
	}
	if reason != report.ReasonReady {
		return nil, reason, why
	}
	return r.im, report.ReasonReady, ""
}

// fetcher is how the device fetches the blocks x names: on its connection
// of the moment (a reconnect replaces it), each block into the same
// buffer, of the largest block's size, so that it never holds more than
// one block. A fetch returns false when nothing came within timeout, an
// error when the connection dropped meanwhile.
func (d *Device) fetcher(timeout time.Duration, x *upload.BlockIndex) Fetch {
	_, largest := x.Block(0)
	var buf []byte
	return func(ctx context.Context, topic string) ([]byte, bool, error) {
		if d.conn == nil {
			return nil, false, upload.ErrClosed
		}
		if buf == nil {
			buf = make([]byte, 0, largest+1)
		}
		// One byte over the largest block is kept: CheckBlock then
		// refuses the block for its length.
		w := &capped{b: buf[:0], max: int(largest) + 1}
		fctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, _, err := d.conn.download(fctx, func(string) io.Writer { return w }, topic)
		switch {
		case ctx.Err() != nil:
			return nil, false, ctx.Err()
		case errors.Is(err, errNothingRetained):
			return nil, false, nil
		case err != nil:
			return nil, false, err
		}
		return w.b, true, nil
	}
}
