package publish

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/release"
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
