package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/upload"
)

// The artifacts retained on a broker, whole or in blocks
// (docs/protocol.md#block-artifacts): listed, cleared, copied out.

// RetainedArtifact is one artifact retained on the broker.
type RetainedArtifact struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Topic   string `json:"topic"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	// Whole is false for an artifact retained only in blocks.
	Whole bool `json:"whole"`
	// BlockSize and Blocks are its index's, when it has one.
	BlockSize int64 `json:"blockSize,omitempty"`
	Blocks    int   `json:"blocks,omitempty"`
	// Problem says what is wrong with it: a block index that does not
	// decode (devices that read blocks cannot download it).
	Problem string `json:"problem,omitempty"`
}

// RetainedEacher reads every message retained under several filters.
type RetainedEacher interface {
	ReadRetainedEach(ctx context.Context, filters []string, fn func(topic string, payload []byte)) error
}

// ListArtifacts lists the artifacts retained under topics' component
// root, whole and in blocks, sorted by package and version. An artifact
// whose block index does not decode is listed with its Problem; anything
// retained that is not a component topic is left out. The size and SHA-256 of an artifact
// retained whole are those of its message; of one only in blocks, its
// index's.
func ListArtifacts(ctx context.Context, r RetainedEacher, topics protocol.Topics) ([]RetainedArtifact, error) {
	byTopic := map[string]*RetainedArtifact{}
	entry := func(topic string) *RetainedArtifact {
		if a, ok := byTopic[topic]; ok {
			return a
		}
		pkg, ver, ok := topics.ParseComponent(topic)
		if !ok {
			return nil
		}
		a := &RetainedArtifact{Package: pkg, Version: ver, Topic: topic}
		byTopic[topic] = a
		return a
	}
	indexes := upload.BlockIndexTopic(topics.ComponentsFilter())
	err := r.ReadRetainedEach(ctx, []string{topics.ComponentsFilter(), indexes}, func(topic string, payload []byte) {
		if whole, ok := strings.CutSuffix(topic, upload.BlockIndexTopic("")); ok {
			x, err := upload.DecodeBlockIndex(payload)
			switch a := entry(whole); {
			case a != nil && err != nil:
				a.Problem = fmt.Sprintf("its block index (%s) does not decode: %v", topic, err)
			case a != nil:
				a.BlockSize, a.Blocks = x.BlockSize, x.Count
				if !a.Whole {
					a.Size, a.SHA256 = x.Size, x.SHA256
				}
			}
			return
		}
		if a := entry(topic); a != nil {
			sum := sha256.Sum256(payload)
			a.Whole, a.Size, a.SHA256 = true, int64(len(payload)), hex.EncodeToString(sum[:])
		}
	})
	if err != nil {
		return nil, err
	}
	list := make([]RetainedArtifact, 0, len(byTopic))
	for _, a := range byTopic {
		if a.Whole || a.Blocks > 0 || a.Problem != "" {
			list = append(list, *a)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Package != list[j].Package {
			return list[i].Package < list[j].Package
		}
		return list[i].Version < list[j].Version
	})
	return list, nil
}

// ClearArtifact deletes the artifact at topic in every form: its block
// index first (a device then no longer starts on its blocks), every block
// retained under it, then the whole message. It reports false when
// nothing was retained.
func ClearArtifact(ctx context.Context, store interface {
	RetainedReader
	RetainedWriter
}, topic string) (bool, error) {
	has := func(t string) ([]string, error) {
		_, found, err := store.ReadRetained(ctx, t)
		if err != nil || !found {
			return nil, err
		}
		return []string{t}, nil
	}
	index, err := has(upload.BlockIndexTopic(topic))
	if err != nil {
		return false, err
	}
	whole, err := has(topic)
	if err != nil {
		return false, err
	}
	var blocks []string
	if err := store.ReadRetainedAll(ctx, upload.BlockFilter(topic), func(t string, _ []byte) { blocks = append(blocks, t) }); err != nil {
		return false, err
	}
	sort.Strings(blocks)
	order := slices.Concat(index, slices.Compact(blocks), whole)
	for _, t := range order {
		if err := store.Clear(ctx, t); err != nil {
			return false, err
		}
	}
	return len(order) > 0, nil
}

// Copier copies retained artifacts out, whole or in blocks.
type Copier interface {
	CopyRetained(ctx context.Context, topic string, w io.Writer) (int64, [32]byte, bool, error)
	CopyBlocks(ctx context.Context, topic string, w io.Writer) (*upload.BlockIndex, error)
}

// CopyArtifact writes the artifact at topic to w: the whole message when
// one is retained, else its blocks put together, each checked against the
// index. It returns the size and SHA-256 written, and false when the
// artifact is retained in neither form (nothing is written then).
func CopyArtifact(ctx context.Context, c Copier, topic string, w io.Writer) (int64, [32]byte, bool, error) {
	n, sum, found, err := c.CopyRetained(ctx, topic, w)
	if err != nil || found {
		return n, sum, found, err
	}
	x, err := c.CopyBlocks(ctx, topic, w)
	if err != nil || x == nil {
		return 0, sum, false, err
	}
	_, err = hex.Decode(sum[:], []byte(x.SHA256))
	return x.Size, sum, true, err
}
