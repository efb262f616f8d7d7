package commands

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/tcpproxy"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
)

// Artifacts of 1 MiB or more go through upload's streaming connection:
// these tests run the commands with such artifacts, as a user would.

func TestUploadStreamedArtifact(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		proxy := tcpproxy.Start(t, b.Addr)
		e := newPubEnvAt(t, proxy.URL())
		app := pubRandom(3<<20 + 1)
		path := e.file("app.bin", app)
		sum := sha256.Sum256(app)

		out, errs, code := e.run("", "upload", "main@1.2.3", path)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("uploaded main@1.2.3: %d bytes, sha256 %s", len(app), hex.EncodeToString(sum[:6]))) {
			t.Fatalf("upload: exit %d\n%s%s", code, out, errs)
		}
		if !strings.Contains(errs, "uploading main@1.2.3 (3.0 MiB) to .u/c/main@1.2.3") {
			t.Errorf("no progress line on stderr: %q", errs)
		}
		c := pubDial(t, b.URL)
		if got, _ := pubRetained(t, c, ".u/c/main@1.2.3"); !bytes.Equal(got, app) {
			t.Fatal("the broker does not retain the file's bytes")
		}

		before := proxy.Upstream()
		out = e.must(0, "upload", "main@1.2.3", path, "-o", "json")
		var res publish.ArtifactResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.Action != "present" || res.Size != int64(len(app)) || res.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("second upload: %q (%v)", out, err)
		}
		if sent := proxy.Upstream() - before; sent > 64<<10 {
			t.Errorf("the second upload sent %d bytes", sent)
		}

		other := e.file("other.bin", pubRandom(len(app)))
		_, errs, code = e.run("", "upload", "main@1.2.3", other)
		if code != ExitVerification || !strings.Contains(errs, "already published with different bytes ("+fmt.Sprint(len(app))+" bytes, sha256 "+hex.EncodeToString(sum[:6])) || !strings.Contains(errs, "hint:") {
			t.Errorf("different bytes: exit %d, %q", code, errs)
		}
		out = e.must(0, "upload", "main@1.2.3", other, "--force")
		if !strings.Contains(out, "replaced main@1.2.3") {
			t.Errorf("--force said %q", out)
		}
	})
}

func TestPublishStreamedArtifacts(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		e := newPubEnvAt(t, b.URL)
		app := pubRandom(2<<20 + 7)
		appPath := e.file("app.bin", app)
		mf := e.manifest("r.json", 1000, "", "main@1.2.3="+appPath)
		out := e.must(0, "release", "publish", mf, appPath)
		if !strings.Contains(out, fmt.Sprintf("artifact main@1.2.3: uploaded (%d bytes)", len(app))) {
			t.Fatalf("publish said:\n%s", out)
		}
		c := pubDial(t, b.URL)
		if got, _ := pubRetained(t, c, ".u/c/main@1.2.3"); !bytes.Equal(got, app) {
			t.Fatal("the artifact is not the file's bytes")
		}
		// Again with the file: present; without it: verified on the
		// broker, read through a hash.
		mf2 := e.manifest("r2.json", 1001, "", "main@1.2.3="+appPath)
		out = e.must(0, "release", "publish", mf2, appPath, "--device", "d1")
		if !strings.Contains(out, "artifact main@1.2.3: present") {
			t.Fatalf("second publish said:\n%s", out)
		}
		mf3 := e.manifest("r3.json", 1002, "", "main@1.2.3="+appPath)
		out = e.must(0, "release", "publish", mf3, "--device", "d2")
		if !strings.Contains(out, "artifact main@1.2.3: verified") {
			t.Fatalf("publish without files said:\n%s", out)
		}
		// The broker's copy of another version differs from what a
		// manifest says: refused before any desired manifest.
		other := pubRandom(len(app))
		e.must(0, "upload", "main@2.0.0", e.file("other.bin", other))
		mf4 := e.manifest("r4.json", 1003, "", "main@2.0.0="+e.file("v2.bin", app))
		_, errs, code := e.run("", "release", "publish", mf4, "--device", "d3")
		if code != ExitVerification || !strings.Contains(errs, "component main@2.0.0") {
			t.Fatalf("mismatching remote artifact: exit %d %s", code, errs)
		}
		if _, found := pubRetained(t, c, "devices/d3/.u/desired"); found {
			t.Fatal("a desired manifest names an artifact that does not match it")
		}
	})
}

func TestPublishStreamedMessageSizeLimit(t *testing.T) {
	t.Parallel()
	m := mosquitto.Start(t, mosquitto.Config{MessageSizeLimit: 1 << 20})
	e := newPubEnvAt(t, m.URL())
	app := e.file("app.bin", pubRandom(2<<20))
	mf := e.manifest("r.json", 1000, "", "main@1.2.3="+app)
	_, errs, code := e.run("", "release", "publish", mf, app)
	if code != ExitVerification || !strings.Contains(errs, "nothing is retained there") || !strings.Contains(errs, "message_size_limit") {
		t.Fatalf("publish over the broker's limit: exit %d\n%s", code, errs)
	}
	c := pubDial(t, m.URL())
	for _, topic := range []string{".u/desired", ".u/c/main@1.2.3", ".u/releases/1000"} {
		if _, found := pubRetained(t, c, topic); found {
			t.Errorf("%s is retained after a failed publish", topic)
		}
	}
}

// TestPublishArtifactChangedAfterCheck: a file that changes between step 2
// (checked against its component) and step 3 (sent) is never published,
// whether it streams or goes through paho.
func TestPublishArtifactChangedAfterCheck(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := testbroker.Start(t, testbroker.KindEmbedded)
	for _, size := range []int{100_000, 2 << 20} {
		e := newPubEnv(t)
		app := pubRandom(size)
		path := e.file("app.bin", app)
		mf := e.manifest("r.json", 1000, "", fmt.Sprintf("main@1.0.%d=%s", size, path))
		payload, err := os.ReadFile(mf)
		if err != nil {
			t.Fatal(err)
		}
		m, err := release.Parse(payload)
		if err != nil {
			t.Fatal(err)
		}
		files, err := publish.MatchFiles(ctx, m, []string{path}, "")
		if err != nil {
			t.Fatal(err)
		}
		// The file changes after the check, keeping its size.
		e.file("app.bin", pubRandom(size))
		c := pubDial(t, b.URL)
		targets := []publish.Target{{Kind: "fleet", Topic: c.Topics().Fleet()}}
		sys := &System{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Now: func() time.Time { return e.now }}
		_, err = publishRelease(ctx, sys, c, &publish.Plan{Manifest: m, Payload: payload, Encoding: "json", Files: files, Targets: targets}, true)
		if !errors.Is(err, release.ErrVerification) || !strings.Contains(err.Error(), "changed since it was checked") {
			t.Fatalf("%d bytes: %v", size, err)
		}
		for _, topic := range []string{".u/desired", fmt.Sprintf(".u/c/main@1.0.%d", size)} {
			if _, found := pubRetained(t, c, topic); found {
				t.Errorf("%d bytes: %s is retained", size, topic)
			}
		}
	}
}

// TestArtifactDownloadStreams: a large artifact downloads to a file
// written atomically (streamed through a temporary file), or to standard
// output; a missing one leaves no file at all.
func TestArtifactDownloadStreams(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, b *testbroker.Broker) {
		e := newPubEnvAt(t, b.URL)
		app := pubRandom(2<<20 + 3)
		e.must(0, "upload", "main@1.2.3", e.file("app.bin", app))
		sum := sha256.Sum256(app)

		dest := filepath.Join(e.dir, "dl", "main.bin")
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			t.Fatal(err)
		}
		_, errs, code := e.run("", "artifact", "download", "main@1.2.3", "-O", dest)
		if code != 0 || !strings.Contains(errs, fmt.Sprintf("main@1.2.3: %d bytes, sha256 %s", len(app), hex.EncodeToString(sum[:]))) {
			t.Fatalf("download: exit %d %q", code, errs)
		}
		if got, err := os.ReadFile(dest); err != nil || !bytes.Equal(got, app) {
			t.Fatalf("the downloaded file is not the artifact: %d bytes, %v", len(got), err)
		}
		if st, err := os.Stat(dest); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("mode: %v %v", st.Mode(), err)
		}
		out, _, code := e.run("", "artifact", "download", "main@1.2.3", "-O", "-")
		if code != 0 || out != string(app) {
			t.Fatalf("download to stdout: exit %d, %d bytes", code, len(out))
		}

		// Nothing there: an error, and no file, whole or temporary.
		missing := filepath.Join(e.dir, "dl", "missing.bin")
		_, errs, code = e.run("", "artifact", "download", "main@9.9.9", "-O", missing)
		if code != ExitError || !strings.Contains(errs, "not on the broker") {
			t.Errorf("missing artifact: exit %d %q", code, errs)
		}
		entries, _ := os.ReadDir(filepath.Dir(dest))
		if len(entries) != 1 {
			t.Errorf("the download folder holds %d entries, want main.bin only", len(entries))
		}
	})
}
