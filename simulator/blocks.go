package simulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
// none. An error is a lost connection: the download can be resumed.
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
// block is reason 7. Once the last block is in, the whole is checked
// against the manifest's hash (reason 5).
func (b *BlockDownload) Resume(ctx context.Context, fetch Fetch, topic string) (report.Reason, string) {
	x := b.Index
	for !b.Done() {
		bt := upload.BlockTopic(topic, b.Next)
		payload, found, err := fetch(ctx, bt)
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

// downloadBlocks is the simulator's download of component c in blocks,
// from the index it received: it resumes the device's download of the same
// bytes when there is one, and returns the image once complete.
func (d *Device) downloadBlocks(ctx context.Context, topic string, index []byte, c *release.Component, timeout time.Duration) ([]byte, report.Reason, string) {
	x, err := upload.DecodeBlockIndex(index)
	if err != nil {
		return nil, report.ReasonIntegrityCheckFailed, err.Error()
	}
	b := d.blocks
	if b == nil || b.Hash != c.Hash || b.Index.BlockSize != x.BlockSize {
		var reason report.Reason
		var why string
		if b, reason, why = NewBlockDownload(x, c, &bytes.Buffer{}); b == nil {
			return nil, reason, why
		}
		d.blocks = b
	}
	fetch := func(ctx context.Context, topic string) ([]byte, bool, error) {
		return d.fetchRetained(ctx, topic, timeout)
	}
	if reason, why := b.Resume(ctx, fetch, topic); reason != report.ReasonReady {
		return nil, reason, why
	}
	d.blocks = nil
	return b.sink.(*bytes.Buffer).Bytes(), report.ReasonReady, ""
}

// fetchRetained subscribes to topic and returns the first message there:
// false when none came within timeout, an error when the connection
// dropped meanwhile.
func (d *Device) fetchRetained(ctx context.Context, topic string, timeout time.Duration) ([]byte, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := make(chan upload.Message, 1)
	if d.client == nil {
		return nil, false, upload.ErrClosed
	}
	losses := d.client.Losses()
	if err := d.client.Subscribe(ctx, []string{topic}, out); err != nil {
		return nil, false, err
	}
	for m := range out {
		if m.Topic == topic && len(m.Payload) > 0 {
			return m.Payload, true, nil
		}
	}
	if err := d.client.Err(); err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil && err != context.DeadlineExceeded {
		return nil, false, err
	}
	if d.client.Losses() != losses {
		return nil, false, fmt.Errorf("nothing from %s in %s: the connection dropped", topic, timeout)
	}
	return nil, false, nil
}
