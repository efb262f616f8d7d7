package publish

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

func TestBlockSizeRules(t *testing.T) {
	for _, tc := range []struct {
		size, maxPayload, blockSize, want int64
		err                               string
	}{
		{size: 1 << 20, want: 0},                               // no limit, no blocks asked
		{size: 1 << 20, maxPayload: 2 << 20, want: 0},          // fits
		{size: 1 << 20, maxPayload: 128 << 10, want: 126976},   // auto: 124 KiB
		{size: 1 << 20, blockSize: 128 << 10, want: 128 << 10}, // asked for
		{size: 1 << 20, maxPayload: 128 << 10, blockSize: 64 << 10, want: 64 << 10},
		{size: 1 << 20, maxPayload: 64 << 10, blockSize: 128 << 10, err: "more than the broker's limit"},
		{size: 1 << 20, blockSize: 512, err: "too small"},
		{size: 100, maxPayload: 50, err: "too small to cut it into blocks"},
		{size: 64 << 20, blockSize: 1 << 10, err: "blocks of"},
		{size: 16 << 20, maxPayload: 8 << 10, err: "index"},
		{size: MaxArtifact + 1, blockSize: 1 << 20, err: "more than a manifest's component"},
	} {
		got, err := BlockSize("main@1", tc.size, tc.maxPayload, tc.blockSize)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: %v, want %q", tc, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: %d, %v; want %d", tc, got, err, tc.want)
		}
	}
	if NeedsBlocks(1<<20, 0) || NeedsBlocks(1<<20, 1<<20) || !NeedsBlocks(1<<20+1, 1<<20) {
		t.Error("NeedsBlocks")
	}
}

// blockTopics are the topics retained under the fixture's artifact.
func blockTopics(b *fakeBroker) (index bool, blocks int, whole bool) {
	for topic := range b.retained {
		switch {
		case topic == ".u/c/main@1.0.0":
			whole = true
		case topic == ".u/c/main@1.0.0/blocks":
			index = true
		case strings.HasPrefix(topic, ".u/c/main@1.0.0/b/"):
			blocks++
		}
	}
	return index, blocks, whole
}

func TestArtifactsOverMaxPayloadGoInBlocksIndexLast(t *testing.T) {
	ctx := context.Background()
	b := newFakeBroker(t)
	p, _ := publisher(b)
	f := newFixture(t, 1000, 5000)
	plan := f.plan()
	plan.MaxPayload = 2048 // blocks of 1 KiB: 5
	res, err := p.Artifacts(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != upload.ActionUploaded || res[0].Blocks != 5 || res[0].BlockSize != 1024 {
		t.Fatalf("result %+v", res[0])
	}
	index, blocks, whole := blockTopics(b)
	if !index || blocks != 5 || whole {
		t.Fatalf("retained: index %v, %d blocks, whole %v", index, blocks, whole)
	}
	if last := b.sent[len(b.sent)-1]; last != ".u/c/main@1.0.0/blocks" {
		t.Fatalf("the index was not published last: %v", b.sent)
	}
	x, err := upload.DecodeBlockIndex(b.retained[".u/c/main@1.0.0/blocks"])
	if err != nil || x.SHA256 != f.m.Components[0].Hash || x.Size != 5000 {
		t.Fatalf("index %+v: %v", x, err)
	}
	var got []byte
	for i := range x.Count {
		got = append(got, b.retained[upload.BlockTopic(".u/c/main@1.0.0", i)]...)
	}
	if !bytes.Equal(got, f.data) {
		t.Fatal("the blocks do not put the file together")
	}

	// Again: nothing sent.
	b.sent = nil
	if res, err = p.Artifacts(ctx, plan); err != nil || res[0].Action != upload.ActionPresent || len(b.sent) != 0 {
		t.Fatalf("again: %+v %v, sent %v", res, err, b.sent)
	}
	// A block lost (a run cut short, a broker that dropped it): only it
	// is sent again; the index stays.
	delete(b.retained, ".u/c/main@1.0.0/b/3")
	if res, err = p.Artifacts(ctx, plan); err != nil || res[0].Action != upload.ActionUploaded || !slices.Equal(b.sent, []string{".u/c/main@1.0.0/b/3"}) {
		t.Fatalf("resume: %+v %v, sent %v", res, err, b.sent)
	}
	// No file: the blocks are verified against the manifest.
	plan.Files = nil
	if res, err = p.Artifacts(ctx, plan); err != nil || res[0].Action != "verified" {
		t.Fatalf("verified: %+v %v", res, err)
	}
	b.retained[".u/c/main@1.0.0/b/1"] = []byte("corrupt")
	if _, err = p.Artifacts(ctx, plan); !errors.Is(err, release.ErrVerification) || !strings.Contains(err.Error(), "/b/1") {
		t.Fatalf("a corrupt block verified: %v", err)
	}
}

func TestArtifactsInBlocksKeepTheWholeTopicWhereItFits(t *testing.T) {
	ctx := context.Background()
	b := newFakeBroker(t)
	p, _ := publisher(b)
	f := newFixture(t, 1000, 3000)
	plan := f.plan()
	plan.BlockSize = 1024 // asked for, on a broker without a limit
	if _, err := p.Artifacts(ctx, plan); err != nil {
		t.Fatal(err)
	}
	index, blocks, whole := blockTopics(b)
	if !index || blocks != 3 || !whole || !bytes.Equal(b.retained[".u/c/main@1.0.0"], f.data) {
		t.Fatalf("retained: index %v, %d blocks, whole %v", index, blocks, whole)
	}
	if last := b.sent[len(b.sent)-1]; last != ".u/c/main@1.0.0/blocks" {
		t.Fatalf("the index was not published last: %v", b.sent)
	}

	// Other bytes under the same version: refused, unless --force, which
	// clears the old index before the first new block.
	g := newFixture(t, 1001, 3000)
	g.m.Components[0].Version = "1.0.0"
	g.m.Seal()
	plan = g.plan()
	plan.BlockSize = 1024
	_, err := p.Artifacts(ctx, plan)
	if !errors.Is(err, release.ErrVerification) || !strings.Contains(err.Error(), "different bytes") || !strings.Contains(hint.Of(err), "--force") {
		t.Fatalf("other bytes: %v", err)
	}
	plan.Force = true
	b.sent = nil
	if res, err := p.Artifacts(ctx, plan); err != nil || res[0].Action != upload.ActionReplaced {
		t.Fatalf("force: %+v %v", res, err)
	}
	if b.sent[0] != ".u/c/main@1.0.0/blocks" || b.sent[len(b.sent)-1] != ".u/c/main@1.0.0/blocks" {
		t.Fatalf("replace: the index was not cleared first and published last: %v", b.sent)
	}
}

func TestRetainedArtifactsListClearCopy(t *testing.T) {
	ctx := context.Background()
	b := newFakeBroker(t)
	p, _ := publisher(b)
	f := newFixture(t, 1000, 5000)
	plan := f.plan()
	plan.MaxPayload = 2048
	if _, err := p.Artifacts(ctx, plan); err != nil {
		t.Fatal(err)
	}
	b.retained[".u/c/other@2"] = []byte("whole")
	list, err := ListArtifacts(ctx, eacher{b}, b.topics)
	if err != nil || len(list) != 2 {
		t.Fatalf("list %+v: %v", list, err)
	}
	if a := list[0]; a.Package != "main" || a.Whole || a.Blocks != 5 || a.Size != 5000 || a.SHA256 != f.m.Components[0].Hash {
		t.Errorf("blocked: %+v", a)
	}
	if a := list[1]; a.Package != "other" || !a.Whole || a.Blocks != 0 || a.Size != 5 {
		t.Errorf("whole: %+v", a)
	}
	b.sent = nil
	found, err := ClearArtifact(ctx, b, ".u/c/main@1.0.0")
	if err != nil || !found || b.sent[0] != ".u/c/main@1.0.0/blocks" || len(b.sent) != 6 {
		t.Fatalf("clear: %v %v, sent %v", found, err, b.sent)
	}
	if index, blocks, whole := blockTopics(b); index || blocks != 0 || whole {
		t.Fatalf("left: index %v, %d blocks, whole %v", index, blocks, whole)
	}
	if found, err := ClearArtifact(ctx, b, ".u/c/main@1.0.0"); err != nil || found {
		t.Fatalf("clear again: %v %v", found, err)
	}
}

// eacher reads a fakeBroker's retained messages under several filters.
type eacher struct{ b *fakeBroker }

func (e eacher) ReadRetainedEach(ctx context.Context, filters []string, fn func(string, []byte)) error {
	for _, f := range filters {
		if err := e.b.ReadRetainedAll(ctx, f, fn); err != nil {
			return err
		}
	}
	return nil
}
