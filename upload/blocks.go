package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/otactl/otactl/release"
)

// Block artifacts (docs/protocol.md#block-artifacts): an artifact at topic
// T can also be retained as blocks at T/b/0, T/b/1, ..., each at most
// BlockSize bytes, with a small retained index at T/blocks, published
// last, that names the artifact's size, SHA-256 and every block's
// SHA-256.
const (
	// BlockIndexVersion is the index format's "v".
	BlockIndexVersion = 1
	// MinBlockSize is the smallest block size otactl publishes.
	MinBlockSize = 1 << 10
	// MaxBlocks is the most blocks one artifact is cut into.
	MaxBlocks = 16384
	// maxIndexBytes bounds what DecodeBlockIndex reads: MaxBlocks
	// hashes and room for the rest.
	maxIndexBytes = MaxBlocks*67 + 1024
)

// BlockIndex is the retained index of an artifact published in blocks.
type BlockIndex struct {
	V         int      `json:"v"`
	Size      int64    `json:"size"`
	BlockSize int64    `json:"blockSize"`
	Count     int      `json:"count"`
	SHA256    string   `json:"sha256"`
	Blocks    []string `json:"blocks"`
}

// BlockIndexTopic is the index's topic for the artifact at topic: T/blocks.
func BlockIndexTopic(topic string) string { return topic + "/blocks" }

// BlockTopic is block i's topic for the artifact at topic: T/b/i.
func BlockTopic(topic string, i int) string { return topic + "/b/" + strconv.Itoa(i) }

// BlockFilter matches every block of the artifact at topic: T/b/+.
func BlockFilter(topic string) string { return topic + "/b/+" }

// BlockCount is how many blocks of blockSize bytes size bytes take.
func BlockCount(size, blockSize int64) int {
	if blockSize <= 0 {
		return 0
	}
	return int((size + blockSize - 1) / blockSize)
}

// Block is where block i lies in the artifact: its offset and length.
func (x *BlockIndex) Block(i int) (off, n int64) {
	off = int64(i) * x.BlockSize
	return off, min(x.BlockSize, x.Size-off)
}

// BlockSum is block i's SHA-256 (the index was decoded or built, so it is
// valid hex).
func (x *BlockIndex) BlockSum(i int) [32]byte {
	var sum [32]byte
	_, _ = hex.Decode(sum[:], []byte(x.Blocks[i]))
	return sum
}

// Encode is the index as published: compact JSON, fields in a fixed order.
func (x *BlockIndex) Encode() []byte {
	b, _ := json.Marshal(x) // plain fields: cannot fail
	return b
}

// HashBlocks reads size bytes of r from offset 0 and returns the index of
// their blocks of blockSize bytes.
func HashBlocks(ctx context.Context, r io.ReaderAt, size, blockSize int64) (*BlockIndex, error) {
	count := BlockCount(size, blockSize)
	if size <= 0 || blockSize < MinBlockSize || count > MaxBlocks {
		return nil, fmt.Errorf("cannot cut %d bytes into blocks of %d bytes (at least %d bytes, at most %d blocks)", size, blockSize, MinBlockSize, MaxBlocks)
	}
	x := &BlockIndex{V: BlockIndexVersion, Size: size, BlockSize: blockSize, Count: count, Blocks: make([]string, count)}
	whole := sha256.New()
	buf := make([]byte, min(blockSize, streamChunk))
	for i := range count {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		off, n := x.Block(i)
		h := sha256.New()
		if _, err := io.CopyBuffer(io.MultiWriter(h, whole), io.NewSectionReader(r, off, n), buf); err != nil {
			return nil, fmt.Errorf("read the artifact: %w", err)
		}
		x.Blocks[i] = hex.EncodeToString(h.Sum(nil))
	}
	x.SHA256 = hex.EncodeToString(whole.Sum(nil))
	return x, nil
}

// DecodeBlockIndex reads an index from the network, refusing anything
// that does not describe one artifact exactly: version 1, a positive
// size, blocks of at least one byte, the count the sizes imply (at most
// MaxBlocks), and lowercase hex SHA-256 everywhere. Unknown fields are
// ignored, so that later versions can add some.
func DecodeBlockIndex(b []byte) (*BlockIndex, error) {
	if len(b) > maxIndexBytes {
		return nil, fmt.Errorf("block index: %d bytes is more than an index of %d blocks takes", len(b), MaxBlocks)
	}
	var x BlockIndex
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("block index: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("block index: data after the object")
	}
	switch {
	case x.V != BlockIndexVersion:
		return nil, fmt.Errorf("block index: version %d, not %d", x.V, BlockIndexVersion)
	case x.Size <= 0 || x.Size > release.MaxComponentSize:
		return nil, fmt.Errorf("block index: size %d is out of range", x.Size)
	case x.BlockSize <= 0 || x.BlockSize > release.MaxComponentSize:
		return nil, fmt.Errorf("block index: block size %d is out of range", x.BlockSize)
	case x.Count != BlockCount(x.Size, x.BlockSize) || x.Count > MaxBlocks:
		return nil, fmt.Errorf("block index: count %d does not match %d bytes in blocks of %d", x.Count, x.Size, x.BlockSize)
	case len(x.Blocks) != x.Count:
		return nil, fmt.Errorf("block index: %d block hashes for %d blocks", len(x.Blocks), x.Count)
	case !isSHA256Hex(x.SHA256):
		return nil, fmt.Errorf("block index: sha256 is not lowercase hex SHA-256")
	}
	for i, h := range x.Blocks {
		if !isSHA256Hex(h) {
			return nil, fmt.Errorf("block index: block %d's hash is not lowercase hex SHA-256", i)
		}
	}
	return &x, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ReadBlockIndex reads and decodes the index retained for the artifact at
// topic; nil when there is none.
func (c *Client) ReadBlockIndex(ctx context.Context, topic string) (*BlockIndex, error) {
	b, found, err := c.ReadRetained(ctx, BlockIndexTopic(topic))
	if err != nil || !found {
		return nil, err
	}
	x, err := DecodeBlockIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", release.ErrVerification, BlockIndexTopic(topic), err)
	}
	return x, nil
}

// CopyBlocks writes the artifact retained in blocks under topic to w, in
// order, checking every block against the index and the whole against
// the index's size and SHA-256 (a mismatch wraps release.ErrVerification),
// and returns the index; nil when no index is retained. Should a block
// fail, w has received the blocks before it.
func (c *Client) CopyBlocks(ctx context.Context, topic string, w io.Writer) (*BlockIndex, error) {
	x, err := c.ReadBlockIndex(ctx, topic)
	if err != nil || x == nil {
		return nil, err
	}
	whole := sha256.New()
	for i := range x.Count {
		bt := BlockTopic(topic, i)
		b, found, err := c.ReadRetained(ctx, bt)
		if err != nil {
			return nil, err
		}
		if err := CheckBlock(x, i, b, found); err != nil {
			return nil, fmt.Errorf("%s: %w", bt, err)
		}
		whole.Write(b)
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
	}
	if hex.EncodeToString(whole.Sum(nil)) != x.SHA256 {
		return nil, fmt.Errorf("%w: %s: the blocks put together do not have the index's SHA-256", release.ErrVerification, topic)
	}
	return x, nil
}

// CheckBlock checks block i of x as fetched (found false: nothing was
// retained): nil when it has the length and SHA-256 the index names, else
// an error that wraps release.ErrVerification.
func CheckBlock(x *BlockIndex, i int, b []byte, found bool) error {
	if !found {
		return fmt.Errorf("%w: block %d of %d is missing", release.ErrVerification, i, x.Count)
	}
	return CheckBlockSum(x, i, int64(len(b)), sha256.Sum256(b))
}

// CheckBlockSum is CheckBlock for a block that was streamed rather than
// held: its length and SHA-256.
func CheckBlockSum(x *BlockIndex, i int, size int64, sum [32]byte) error {
	_, n := x.Block(i)
	switch {
	case size != n:
		return fmt.Errorf("%w: block %d is %d bytes, the index says %d", release.ErrVerification, i, size, n)
	case sum != x.BlockSum(i):
		return fmt.Errorf("%w: block %d does not have the SHA-256 the index names", release.ErrVerification, i)
	}
	return nil
}
