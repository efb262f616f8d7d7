package publish

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/text"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// indexRoom is what an index takes besides its block hashes, generously.
const indexRoom = 256

// NeedsBlocks reports whether an artifact of size bytes must be published
// in blocks for a broker that takes messages of at most maxPayload bytes
// (0: no limit known).
func NeedsBlocks(size, maxPayload int64) bool {
	return maxPayload > 0 && size > maxPayload
}

// AutoBlockSize is the block size used when an artifact needs blocks and
// none was given: maxPayload less 1 KiB (room for the topic and the
// packet's header), rounded down to a multiple of 4 KiB, and never below
// upload.MinBlockSize.
func AutoBlockSize(maxPayload int64) int64 {
	return max((maxPayload-1024)/4096*4096, upload.MinBlockSize)
}

// BlockSize decides how an artifact of size bytes is published: 0 for one
// whole message, else the size of its blocks. blockSize is the one asked
// for (--block-size or the profile's; 0: none), maxPayload the broker's
// limit (0: none). An artifact larger than maxPayload is cut into blocks
// of AutoBlockSize when no block size was asked for. name names the
// artifact in errors.
func BlockSize(name string, size, maxPayload, blockSize int64) (int64, error) {
	if blockSize == 0 && !NeedsBlocks(size, maxPayload) {
		return 0, CheckPayloadSize(name, size, 0)
	}
	if size > MaxArtifact {
		return 0, fmt.Errorf("artifact %s is %d bytes: more than a manifest's component may be (%d)", name, size, MaxArtifact)
	}
	bs := blockSize
	if bs == 0 {
		if bs = AutoBlockSize(maxPayload); bs > maxPayload {
			return 0, hint.Wrap(fmt.Errorf("artifact %s is %s (%d bytes): more than the broker's limit of %d bytes (max-payload), which is too small to cut it into blocks of at least %d bytes", name, text.Bytes(size), size, maxPayload, upload.MinBlockSize),
				"raise the broker's limit (mosquitto message_size_limit, EMQX mqtt.max_packet_size) and then max-payload")
		}
	}
	count := upload.BlockCount(size, bs)
	switch {
	case bs < upload.MinBlockSize:
		return 0, fmt.Errorf("block size %d is too small: at least %d bytes (1k)", bs, upload.MinBlockSize)
	case maxPayload > 0 && bs > maxPayload:
		return 0, hint.Wrap(fmt.Errorf("block size %s is more than the broker's limit of %d bytes (max-payload)", text.Bytes(bs), maxPayload),
			"give a --block-size of at most max-payload, or leave it out to have one chosen")
	case count > upload.MaxBlocks:
		return 0, hint.Wrap(fmt.Errorf("artifact %s would take %d blocks of %s: at most %d", name, count, text.Bytes(bs), upload.MaxBlocks),
			"give a larger --block-size")
	case maxPayload > 0 && indexSize(count) > maxPayload:
		return 0, hint.Wrap(fmt.Errorf("artifact %s: the index of its %d blocks (about %d bytes) is more than the broker's limit of %d bytes (max-payload)", name, count, indexSize(count), maxPayload),
			"give a larger --block-size")
	}
	return bs, nil
}

// indexSize bounds the encoded size of an index of count blocks.
func indexSize(count int) int64 { return int64(count)*67 + indexRoom }

// BlockStore is what publishing an artifact in blocks needs of a broker.
type BlockStore interface {
	ArtifactStore
	RetainedReader
	RetainedWriter
}

// BlockPut is an artifact to put on the broker in blocks.
type BlockPut struct {
	ArtifactPut
	BlockSize int64
	// Whole also puts the whole artifact on a.Topic, for devices that do
	// not know blocks: for a broker that takes it.
	Whole bool
	// MaxPayload is the broker's limit (0: none known): blocks already
	// retained for the same bytes are kept unless they are over it.
	MaxPayload int64
}

// PutBlocks makes the broker retain a.File in blocks of a.BlockSize at
// a.Topic/b/N, then, with a.Whole, the whole artifact at a.Topic, then the
// index at a.Topic/blocks, last, each read back. An index already there
// for the same bytes sends only the blocks missing (a run cut short
// resumes), in the blocks it names whatever a.BlockSize says, so that
// devices downloading them never find a block rewritten (keepBlocks); one
// for different bytes is refused unless a.Force, and is cleared first
// when replaced, so that no device ever finds an index whose blocks are
// half replaced. The index returned is the one the broker retains.
func PutBlocks(ctx context.Context, store BlockStore, a BlockPut, obs Observer) (upload.PutResult, *upload.BlockIndex, error) {
	x, err := upload.HashBlocks(ctx, a.File, a.Size, a.BlockSize)
	if err != nil {
		return upload.PutResult{}, nil, fmt.Errorf("upload %s: %w", a.Name, err)
	}
	var res upload.PutResult
	if _, err := hex.Decode(res.SHA256[:], []byte(x.SHA256)); err != nil {
		return res, nil, err
	}
	if a.Hash != "" && a.Hash != x.SHA256 {
		return res, nil, artifactError(upload.ErrArtifactChanged, a.ArtifactPut)
	}
	indexTopic := upload.BlockIndexTopic(a.Topic)
	old, err := readIndex(ctx, store, indexTopic)
	if err != nil {
		return res, nil, err
	}
	if keep, err := keepBlocks(a, old, x, obs); err != nil {
		return res, nil, err
	} else if keep {
		x = old
	}
	same := old != nil && sameIndex(old, x)
	res.Action = upload.ActionUploaded
	switch {
	case same:
		res.Action = upload.ActionPresent
	case old != nil && old.V != 0 && old.SHA256 != x.SHA256 && !a.Force:
		// An index that does not decode (V 0) is no device's: replaced.
		sum, _ := hex.DecodeString(old.SHA256)
		return res, nil, artifactError(&upload.ConflictError{Topic: indexTopic, Size: old.Size, SHA256: [32]byte(sum)}, a.ArtifactPut)
	case old != nil:
		res.Action = upload.ActionReplaced
	}
	if a.DryRun {
		res.Action = map[string]string{upload.ActionUploaded: upload.ActionWouldUpload, upload.ActionReplaced: upload.ActionWouldReplace}[res.Action]
		if same {
			res.Action = upload.ActionPresent
		}
		return res, x, nil
	}
	if old != nil && !same {
		if err := store.Clear(ctx, indexTopic); err != nil {
			return res, nil, err
		}
	}
	sent, err := putBlocks(ctx, store, a, x, obs)
	if err != nil {
		return res, nil, err
	}
	if a.Whole {
		put, err := PutArtifact(ctx, store, a.ArtifactPut, obs)
		if err != nil {
			return res, nil, err
		}
		sent = sent || put.Action != upload.ActionPresent
	}
	if old != nil && !same {
		for i := x.Count; i < old.Count; i++ {
			if err := store.Clear(ctx, upload.BlockTopic(a.Topic, i)); err != nil {
				return res, nil, err
			}
		}
	}
	if !same {
		if err := store.PublishVerified(ctx, indexTopic, x.Encode()); err != nil {
			return res, nil, err
		}
	} else if sent {
		res.Action = upload.ActionUploaded // blocks were missing: the index was already there
	}
	return res, x, nil
}

// keepBlocks decides whether the blocks retained under index old, for the
// same bytes as x but in blocks of another size, are kept as they are
// (docs/protocol.md#block-artifacts): rewriting them in place would give a
// device that is downloading them blocks of the new size under the index
// of the old one, and it would report an integrity failure (reason 5) for
// an artifact that is fine. They are kept, with a warning, unless they are
// over the broker's limit: then they are cut again with a.Force, and
// refused without it.
func keepBlocks(a BlockPut, old, x *upload.BlockIndex, obs Observer) (bool, error) {
	if old == nil || old.V == 0 || old.Size != x.Size || old.SHA256 != x.SHA256 || old.BlockSize == x.BlockSize {
		return false, nil
	}
	if a.MaxPayload > 0 && old.BlockSize > a.MaxPayload {
		if a.Force {
			return false, nil
		}
		return false, hint.Wrap(fmt.Errorf("artifact %s is retained in blocks of %s (%s), more than the broker's limit of %d bytes (max-payload)",
			a.Name, text.Bytes(old.BlockSize), upload.BlockIndexTopic(a.Topic), a.MaxPayload),
			fmt.Sprintf("--force cuts it again in blocks of %s: devices downloading the old blocks fail once (reason 5) and start over", text.Bytes(x.BlockSize)))
	}
	obs.emit(Warning{fmt.Sprintf("artifact %s: keeping the blocks of %s already retained for these bytes, not blocks of %s: devices may be downloading them (to cut it again: otactl artifact delete, then publish)",
		a.Name, text.Bytes(old.BlockSize), text.Bytes(x.BlockSize))})
	return true, nil
}

// putBlocks puts every block of x, each read back, and reports whether
// any was sent; obs hears ArtifactSending before the first.
func putBlocks(ctx context.Context, store ArtifactStore, a BlockPut, x *upload.BlockIndex, obs Observer) (bool, error) {
	told := false
	sending := func() {
		if !told {
			told = true
			obs.emit(ArtifactSending{Name: a.Name, Size: a.Size, Topic: upload.BlockFilter(a.Topic)})
		}
	}
	for i := range x.Count {
		off, n := x.Block(i)
		sum := x.BlockSum(i)
		// A block differing under an index for these bytes, or under none,
		// is no device's: it is replaced without --force.
		_, err := store.PutFile(ctx, upload.PutRequest{Topic: upload.BlockTopic(a.Topic, i), File: io.NewSectionReader(a.File, off, n), Size: n, SHA256: &sum, Force: true, Sending: sending})
		if err != nil {
			return told, artifactError(err, a.ArtifactPut)
		}
	}
	return told, nil
}

// readIndex reads the index retained on topic: nil when there is none,
// and an empty index when what is there does not decode (so that it
// counts as different bytes).
func readIndex(ctx context.Context, store RetainedReader, topic string) (*upload.BlockIndex, error) {
	b, found, err := store.ReadRetained(ctx, topic)
	if err != nil || !found {
		return nil, err
	}
	x, err := upload.DecodeBlockIndex(b)
	if err != nil {
		return &upload.BlockIndex{}, nil
	}
	return x, nil
}

func sameIndex(a, b *upload.BlockIndex) bool {
	return a.Size == b.Size && a.BlockSize == b.BlockSize && a.SHA256 == b.SHA256 && slices.Equal(a.Blocks, b.Blocks)
}

// verifyRemoteBlocks checks that the broker retains component c in blocks
// under topic: an index for its size and SHA-256 and every block it names.
// It returns the index, or nil when no index is there.
func verifyRemoteBlocks(ctx context.Context, store EndpointReader, topic, name string, c release.Component) (*upload.BlockIndex, error) {
	x, err := readIndex(ctx, store, upload.BlockIndexTopic(topic))
	if err != nil || x == nil {
		return nil, err
	}
	if x.Size != c.Size || x.SHA256 != c.Hash {
		return x, fmt.Errorf("%w: component %s: the block index at %s is for other bytes (%d bytes, sha256 %s)", release.ErrVerification, name, upload.BlockIndexTopic(topic), x.Size, text.Dash(firstN(x.SHA256, 12)))
	}
	for i := range x.Count {
		_, n := x.Block(i)
		if err := store.VerifyRetained(ctx, upload.BlockTopic(topic, i), int(n), x.BlockSum(i)); err != nil {
			var ve *upload.VerifyError
			if errors.As(err, &ve) {
				return x, fmt.Errorf("component %s: %w", name, err)
			}
			return x, err
		}
	}
	return x, nil
}

func firstN(s string, n int) string { return s[:min(n, len(s))] }
