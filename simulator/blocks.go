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
// independent of how messages reach it: given a way to stream the message
// retained on a topic, BlockDownload streams an artifact's blocks in order
// into a sink, checks each against the index as it passes and the whole
// against the manifest, and keeps what it verified across dropped
// connections, so a retry fetches only the rest. No block is ever held.

// Fetch streams the message retained on topic into w, and returns false
// when there is none. An error is a lost connection (the download can be
// resumed), or a *refusedError when the broker refused the subscription.
type Fetch func(ctx context.Context, topic string, w io.Writer) (bool, error)

// Sink is where a download in blocks writes the artifact (a device's
// second slot). Each block is written as it arrives, before it is
// verified: Commit says the bytes written so far are verified, and Rewind
// takes back those written since the last Commit (a block that failed).
type Sink interface {
	io.Writer
	Commit()
	Rewind()
}

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
	sink    Sink
	whole   *markedSum
	block   hash.Hash
}

// NewBlockDownload starts downloading component c in blocks as x describes
// them, into sink. An index that is not for c's bytes is reason 5.
func NewBlockDownload(x *upload.BlockIndex, c *release.Component, sink Sink) (*BlockDownload, report.Reason, string) {
	if x.Size != c.Size || x.SHA256 != c.Hash {
		return nil, report.ReasonIntegrityCheckFailed, fmt.Sprintf("the block index is for %d bytes with SHA-256 %s..., the manifest says %d bytes, %s...", x.Size, x.SHA256[:12], c.Size, c.Hash[:min(12, len(c.Hash))])
	}
	return &BlockDownload{Index: x, Hash: c.Hash, sink: sink, whole: newMarkedSum(), block: sha256.New()}, report.ReasonReady, ""
}

// Done reports whether every block was fetched and verified.
func (b *BlockDownload) Done() bool { return b.Next == b.Index.Count }

// Resume fetches the blocks not yet verified from the artifact at topic,
// in order, each streamed through its SHA-256 into the sink. A block that
// does not match the index is reason 5 (it is fetched again on the next
// try); a fetch that fails is reason 4, connection lost, and the blocks
// verified so far are kept; a missing block, or one whose subscription
// the broker refused, is reason 7 (as for the artifact's own topic); a
// sink that fails is reason 10. A block that fails is taken back from
// the sink. Once the last block is in, the whole is checked against the
// manifest's hash (reason 5).
func (b *BlockDownload) Resume(ctx context.Context, fetch Fetch, topic string) (report.Reason, string) {
	for !b.Done() {
		reason, why := b.fetchNext(ctx, fetch, topic)
		if reason != report.ReasonReady {
			b.sink.Rewind()
			b.whole.Rewind()
			return reason, why
		}
		b.sink.Commit()
		b.whole.Commit()
		b.Next++
	}
	if got := hex.EncodeToString(b.whole.Sum(nil)); got != b.Hash {
		return report.ReasonIntegrityCheckFailed, fmt.Sprintf("the blocks put together have SHA-256 %s..., the manifest says %s...", got[:12], b.Hash[:min(12, len(b.Hash))])
	}
	return report.ReasonReady, ""
}

// fetchNext streams block b.Next into the sink and checks it.
func (b *BlockDownload) fetchNext(ctx context.Context, fetch Fetch, topic string) (report.Reason, string) {
	x := b.Index
	bt := upload.BlockTopic(topic, b.Next)
	_, size := x.Block(b.Next)
	b.block.Reset()
	w := &blockWriter{sum: b.block, max: size, sink: b.sink, whole: b.whole}
	found, err := fetch(ctx, bt, w)
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		return report.ReasonInvalidURI, fmt.Sprintf("block %d of %d: %v", b.Next, x.Count, err)
	case err != nil:
		return report.ReasonConnectionLost, fmt.Sprintf("block %d of %d: %v", b.Next, x.Count, err)
	}
	b.Fetches++
	if !found {
		return report.ReasonInvalidURI, fmt.Sprintf("nothing retained on %s", bt)
	}
	if err := upload.CheckBlockSum(x, b.Next, w.n, [32]byte(b.block.Sum(nil))); err != nil {
		return report.ReasonIntegrityCheckFailed, err.Error()
	}
	if w.err != nil {
		return report.ReasonIOError, fmt.Sprintf("writing block %d: %v", b.Next, w.err)
	}
	return report.ReasonReady, ""
}

// blockWriter takes one block as it arrives: it hashes and counts every
// byte, and streams on to the sink and the whole's hash no more than the
// block's length (a longer block fails its check anyway). A sink that
// fails is remembered, and the rest of the block read past, so that the
// connection stays in step.
type blockWriter struct {
	sum   hash.Hash
	n     int64
	max   int64
	sink  io.Writer
	whole io.Writer
	err   error
}

func (w *blockWriter) Write(p []byte) (int, error) {
	w.sum.Write(p)
	if room := w.max - w.n; room > 0 && w.err == nil {
		q := p[:min(room, int64(len(p)))]
		if _, w.err = w.sink.Write(q); w.err == nil {
			w.whole.Write(q)
		}
	}
	w.n += int64(len(p))
	return len(p), nil
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
	reason, why := r.dl.Resume(ctx, d.fetcher(timeout), topic)
	if reason == report.ReasonReady || reason == report.ReasonIntegrityCheckFailed {
		d.blocks = nil
	}
	if reason != report.ReasonReady {
		return nil, reason, why
	}
	return r.im, report.ReasonReady, ""
}

// fetcher is how the device fetches blocks: on its connection of the
// moment (a reconnect replaces it), each streamed into the writer it is
// given, through the fleet's shared copy buffers, so that it never holds a
// block. A fetch returns false when nothing came within timeout, an error
// when the connection dropped meanwhile or the subscription was refused.
func (d *Device) fetcher(timeout time.Duration) Fetch {
	return func(ctx context.Context, topic string, w io.Writer) (bool, error) {
		if d.conn == nil {
			return false, upload.ErrClosed
		}
		fctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, _, err := d.conn.download(fctx, func(string) io.Writer { return w }, topic)
		switch {
		case ctx.Err() != nil:
			return false, ctx.Err()
		case errors.Is(err, errNothingRetained):
			return false, nil
		case err != nil:
			return false, err
		}
		return true, nil
	}
}
