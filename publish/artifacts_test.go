package publish

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

const mainTopic = ".u/c/main@1.0.0"

func TestArtifactsUploadsThenFindsPresent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1000, 3000)
	b := newFakeBroker(t)
	p, ev := publisher(b)

	got, err := p.Artifacts(ctx, f.plan())
	if err != nil {
		t.Fatal(err)
	}
	want := ArtifactResult{Package: "main", Version: "1.0.0", Topic: mainTopic, Size: 3000, SHA256: f.m.Components[0].Hash, Action: "uploaded"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("results %+v, want %+v", got, want)
	}
	if !bytes.Equal(b.retained[mainTopic], f.data) {
		t.Fatal("the broker does not retain the file's bytes")
	}
	if len(*ev) != 2 || (*ev)[0] != (ArtifactSending{Name: "main@1.0.0", Size: 3000, Topic: mainTopic}) || (*ev)[1] != (ArtifactDone{want}) {
		t.Errorf("events %+v", *ev)
	}

	// Again: the same bytes are there, nothing is sent.
	b.sent, *ev = nil, nil
	got, err = p.Artifacts(ctx, f.plan())
	if err != nil || got[0].Action != "present" || len(b.sent) != 0 {
		t.Fatalf("second run: %+v, %v, sent %v", got, err, b.sent)
	}
	if len(*ev) != 1 {
		t.Errorf("second run events %+v: want ArtifactDone only", *ev)
	}
}

func TestArtifactsVerifiesComponentsWithoutFile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1000, 500)
	b := newFakeBroker(t)
	p, _ := publisher(b)
	plan := f.plan()
	plan.Files = map[string]string{}

	_, err := p.Artifacts(ctx, plan)
	if err == nil || !strings.Contains(err.Error(), "is not on the broker") || !strings.Contains(hint.Of(err), "give the file") {
		t.Fatalf("missing component: %v (hint %q)", err, hint.Of(err))
	}
	// With --artifacts DIR it says that the folder has none, and what it
	// looked for there.
	plan.ArtifactsDir = "build/"
	_, err = p.Artifacts(ctx, plan)
	if err == nil || !strings.Contains(err.Error(), "is not on the broker (.u/c/main@1.0.0), and the artifacts folder build/ has no file for it: "+
		"looked for main@1.0.0[.EXT] and main[.EXT] by name, and for a file of 500 bytes with its sha256, in it and its subfolders") {
		t.Fatalf("missing component with --artifacts: %v", err)
	}
	b.retained[mainTopic] = f.data
	got, err := p.Artifacts(ctx, plan)
	if err != nil || got[0].Action != "verified" {
		t.Fatalf("component on the broker: %+v, %v", got, err)
	}
	b.retained[mainTopic] = []byte("other bytes")
	if _, err := p.Artifacts(ctx, plan); !errors.Is(err, release.ErrVerification) || !strings.Contains(err.Error(), "component main@1.0.0") {
		t.Fatalf("other bytes on the broker: %v", err)
	}
}

func TestArtifactsRefusesDifferentBytesUnlessForce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1000, 100)
	b := newFakeBroker(t)
	b.retained[mainTopic] = []byte("what another release put there")
	p, _ := publisher(b)

	_, err := p.Artifacts(ctx, f.plan())
	if !errors.Is(err, release.ErrVerification) || !strings.Contains(err.Error(), "already published with different bytes") || !strings.Contains(hint.Of(err), "--force") {
		t.Fatalf("different bytes: %v", err)
	}
	if len(b.sent) != 0 {
		t.Fatalf("sent %v after a refusal", b.sent)
	}

	dry := f.dryRun()
	dry.Force = true
	got, err := p.Artifacts(ctx, dry)
	if err != nil || got[0].Action != "would replace" || len(b.sent) != 0 {
		t.Fatalf("dry run with --force: %+v, %v, sent %v", got, err, b.sent)
	}

	forced := f.plan()
	forced.Force = true
	got, err = p.Artifacts(ctx, forced)
	if err != nil || got[0].Action != "replaced" || !bytes.Equal(b.retained[mainTopic], f.data) {
		t.Fatalf("--force: %+v, %v", got, err)
	}
}

func TestArtifactsRefusesAFileChangedSinceChecked(t *testing.T) {
	ctx := context.Background()
	b := newFakeBroker(t)
	p, _ := publisher(b)

	// Other bytes of the same size: caught as they are sent.
	f := newFixture(t, 1000, 100)
	if err := os.WriteFile(f.path, bytes.Repeat([]byte{'x'}, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := p.Artifacts(ctx, f.plan())
	if err == nil || !strings.Contains(err.Error(), "changed since it was checked: it no longer matches component main@1.0.0 (nothing was published)") || !strings.Contains(hint.Of(err), "still writing") {
		t.Fatalf("same size, other bytes: %v", err)
	}
	if !errors.Is(err, release.ErrVerification) || len(b.retained) != 0 {
		t.Fatalf("same size, other bytes: %v, retained %v", err, b.retained)
	}

	// Another size: caught before anything is sent.
	if err := os.WriteFile(f.path, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = p.Artifacts(ctx, f.plan())
	if !errors.Is(err, release.ErrVerification) || !strings.Contains(err.Error(), "(5 bytes, not 100)") || len(b.retained) != 0 {
		t.Fatalf("other size: %v", err)
	}
}

func TestArtifactsChecksURIAndLimits(t *testing.T) {
	ctx := context.Background()
	b := newFakeBroker(t)
	p, _ := publisher(b)

	f := newFixture(t, 1000, 100)
	f.m.Components[0].URI = "/elsewhere"
	if _, err := p.Artifacts(ctx, f.plan()); err == nil || !strings.Contains(err.Error(), `uri "/elsewhere" is not "/.u/c/main@1.0.0"`) {
		t.Fatalf("uri: %v", err)
	}

	f = newFixture(t, 1000, 100)
	plan := f.plan()
	plan.MaxPayload = 50
	if _, err := p.Artifacts(ctx, plan); err == nil || !strings.Contains(err.Error(), "max-payload") || hint.Of(err) == "" {
		t.Fatalf("max-payload: %v", err)
	}
	if len(b.sent) != 0 {
		t.Fatalf("sent %v", b.sent)
	}
	if err := CheckPayloadSize("x", MaxArtifact+1, 0); err == nil || !strings.Contains(err.Error(), "more than MQTT can carry") {
		t.Errorf("MQTT limit: %v", err)
	}
}

func TestOpenArtifactRefusesWhatCannotBePublished(t *testing.T) {
	dir := t.TempDir()
	empty := dir + "/empty.bin"
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{dir + "/none.bin", "does not exist"},
		{dir, "not a regular file"},
		{empty, "is empty"},
	} {
		if f, _, err := OpenArtifact(tc.path, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			if f != nil {
				f.Close()
			}
			t.Errorf("%s: %v, want %q", tc.path, err, tc.want)
		}
	}
}

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

// inBlocks runs the artifact step once on a fake broker for a fixture of
// size bytes, its plan changed by change.
func inBlocks(t *testing.T, size int, change func(*Plan)) (*fakeBroker, *Publisher, *fixture, *Plan, []ArtifactResult) {
	t.Helper()
	b := newFakeBroker(t)
	p, _ := publisher(b)
	f := newFixture(t, 1000, size)
	plan := f.plan()
	change(plan)
	res, err := p.Artifacts(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	return b, p, f, plan, res
}

func TestArtifactsOverMaxPayloadGoInBlocksIndexLast(t *testing.T) {
	ctx := context.Background()
	b, p, f, plan, res := inBlocks(t, 5000, func(plan *Plan) { plan.MaxPayload = 2048 }) // blocks of 1 KiB: 5
	var err error
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
	// Blocks asked for, on a broker without a limit.
	b, p, f, first, _ := inBlocks(t, 3000, func(plan *Plan) { plan.BlockSize = 1024 })
	index, blocks, whole := blockTopics(b)
	if !index || blocks != 3 || !whole || !bytes.Equal(b.retained[".u/c/main@1.0.0"], f.data) {
		t.Fatalf("retained: index %v, %d blocks, whole %v", index, blocks, whole)
	}
	if last := b.sent[len(b.sent)-1]; last != ".u/c/main@1.0.0/blocks" {
		t.Fatalf("the index was not published last: %v", b.sent)
	}

	// An index that does not decode is no device's: replaced without
	// --force.
	b.retained[".u/c/main@1.0.0/blocks"] = []byte("{garbage")
	if res, err := p.Artifacts(ctx, first); err != nil || res[0].Action != upload.ActionReplaced {
		t.Fatalf("over an index that does not decode: %+v %v", res, err)
	}

	// Other bytes under the same version: refused, unless --force, which
	// clears the old index before the first new block.
	g := newFixture(t, 1001, 3000)
	g.m.Components[0].Version = "1.0.0"
	g.m.Seal()
	plan := g.plan()
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

func TestRetainedArtifactsListAndClear(t *testing.T) {
	ctx := context.Background()
	b, _, f, _, _ := inBlocks(t, 5000, func(plan *Plan) { plan.MaxPayload = 2048 })
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
	// An index that does not decode is listed with its problem, not
	// left out.
	b.retained[".u/c/idx@1.0.0/blocks"] = []byte(`{"v":1,"size":"x"}`)
	list, err = ListArtifacts(ctx, eacher{b}, b.topics)
	if err != nil || len(list) != 3 || list[0].Package != "idx" || !strings.Contains(list[0].Problem, "does not decode") {
		t.Errorf("a bad index: %+v %v", list, err)
	}
	delete(b.retained, ".u/c/idx@1.0.0/blocks")
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

func TestArtifactsInBlocksDryRunSendsNothing(t *testing.T) {
	b, p, _, plan, res := inBlocks(t, 5000, func(plan *Plan) { plan.MaxPayload, plan.DryRun = 2048, true })
	if res[0].Action != upload.ActionWouldUpload || res[0].Blocks != 5 || len(b.sent) != 0 || len(b.retained) != 0 {
		t.Fatalf("dry run: %+v, sent %v", res[0], b.sent)
	}
	plan.DryRun = false
	if _, err := p.Artifacts(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	plan.DryRun = true
	b.sent = nil
	if res, err := p.Artifacts(context.Background(), plan); err != nil || res[0].Action != upload.ActionPresent || len(b.sent) != 0 {
		t.Fatalf("dry run over the same blocks: %+v %v, sent %v", res, err, b.sent)
	}
}
