package commands

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/simulator"
	"github.com/otactl/otactl/upload"
)

// updatedFleet runs n simulated devices on url until every one has
// reported main updated to version, and fails the test after a minute.
func updatedFleet(t *testing.T, url string, n int, version string) {
	t.Helper()
	var (
		mu      sync.Mutex
		updated = map[string]bool{}
		log     []string
		done    = make(chan struct{})
	)
	cfg := simulator.Config{Conn: upload.Options{Broker: url}, Devices: n, IDPrefix: "blk-" + version + "-", Package: "main", Version: "1.0.0",
		OnEvent: func(e simulator.Event) {
			mu.Lock()
			defer mu.Unlock()
			log = append(log, fmt.Sprintf("%s %s (%d,%d) %s", e.Device, e.Kind, e.State, e.Reason, e.Detail))
			if e.Kind == simulator.EventReport && e.State == report.Updated && e.Reason == report.ReasonUpdated && e.Version == version && !updated[e.Device] {
				if updated[e.Device] = true; len(updated) == n {
					close(done)
				}
			}
		}}
	f, err := simulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- f.Run(ctx) }()
	defer func() { cancel(); <-stopped }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d devices updated to %s:\n%s", len(updated), n, version, strings.Join(log, "\n"))
	}
}

// The case: a broker that takes messages of at most 128 KiB
// (mosquitto message_size_limit 131072) and an artifact of 1 MiB.
func TestBlocksOnABrokerWithASmallLimit(t *testing.T) {
	t.Parallel()
	m := mosquitto.Start(t, mosquitto.Config{MessageSizeLimit: 131072})
	e := newPubEnvAt(t, m.URL())
	app := pubRandom(1 << 20)
	path := e.file("app.bin", app)
	mf := e.manifest("r.json", 1000, "", "main@1.2.3="+path)
	e.must(0, "config", "set", "max-payload", "128k")

	out := e.must(0, "release", "publish", mf, path, "-o", "json")
	var rep publish.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Artifacts) != 1 {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	if a := rep.Artifacts[0]; a.Action != "uploaded" || a.BlockSize != 126976 || a.Blocks != 9 {
		t.Fatalf("artifact %+v: want 9 blocks of 124 KiB", a)
	}
	c := pubDial(t, m.URL())
	if _, found := pubRetained(t, c, ".u/c/main@1.2.3"); found {
		t.Error("the whole artifact is retained on a broker that cannot take it")
	}
	x, err := c.ReadBlockIndex(context.Background(), ".u/c/main@1.2.3")
	if err != nil || x == nil || x.Count != 9 {
		t.Fatalf("index %+v: %v", x, err)
	}
	// Devices download the blocks.
	updatedFleet(t, m.URL(), 3, "1.2.3")

	// Again: every block is there, nothing is sent.
	out = e.must(0, "release", "publish", mf, path, "--force", "-o", "json")
	if !strings.Contains(out, `"action":"present"`) {
		t.Errorf("publish again: %s", out)
	}
	// upload --block-size: blocks of exactly the broker's limit.
	e.must(0, "upload", "main@1.2.4", path, "--block-size", "128k")
	if x, err := c.ReadBlockIndex(context.Background(), ".u/c/main@1.2.4"); err != nil || x == nil || x.Count != 8 || x.BlockSize != 131072 {
		t.Fatalf("upload --block-size: index %+v: %v", x, err)
	}
	// A block size over max-payload is refused before connecting.
	_, errs, code := e.run("", "upload", "main@1.2.5", path, "--block-size", "256k", "--broker", "mqtt://127.0.0.1:1")
	if code != ExitError || !strings.Contains(errs, "max-payload") || !strings.Contains(errs, "hint:") {
		t.Errorf("block size over max-payload: exit %d %s", code, errs)
	}

	// list, download, delete.
	out = e.must(0, "artifact", "list", "-o", "json")
	if !strings.Contains(out, `"version":"1.2.3","topic":".u/c/main@1.2.3","size":1048576`) || !strings.Contains(out, `"whole":false,"blockSize":126976,"blocks":9`) {
		t.Errorf("artifact list: %s", out)
	}
	dl := filepath.Join(e.dir, "dl.bin")
	_, errs, _ = e.run("", "artifact", "download", "main@1.2.3", "-O", dl)
	if got, _ := os.ReadFile(dl); !bytes.Equal(got, app) {
		t.Fatalf("download is not the artifact: %s", errs)
	}
	// A corrupted block is caught by the download (exit 3), and no file is left.
	if err := c.PublishRetained(context.Background(), ".u/c/main@1.2.4/b/5", bytes.Repeat([]byte{1}, 131072)); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(e.dir, "bad.bin")
	if _, errs, code := e.run("", "artifact", "download", "main@1.2.4", "-O", bad); code != ExitVerification || !strings.Contains(errs, "block 5") {
		t.Errorf("corrupt block: exit %d %s", code, errs)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a download that failed verification left its file")
	}
	e.must(0, "artifact", "delete", "main@1.2.4")
	for _, topic := range []string{".u/c/main@1.2.4/blocks", ".u/c/main@1.2.4/b/0", ".u/c/main@1.2.4/b/7"} {
		if _, found := pubRetained(t, c, topic); found {
			t.Errorf("artifact delete left %s", topic)
		}
	}
}

// With --block-size on a broker that takes the whole artifact, the whole
// topic holds it too: a device that knows nothing of blocks still updates.
func TestBlocksKeepTheWholeTopicForOldDevices(t *testing.T) {
	t.Parallel()
	b := testbroker.Embedded(t, broker.Config{})
	e := newPubEnvAt(t, b.URL)
	app := pubRandom(300_000)
	path := e.file("app.bin", app)
	mf := e.manifest("r.json", 1000, "", "main@1.2.3="+path)
	out, errs, code := e.run("", "release", "publish", mf, path, "--block-size", "64k")
	if code != 0 || !strings.Contains(out+errs, "(300000 bytes) .u/c/main@1.2.3 in 5 blocks of 64.0 KiB") {
		t.Fatalf("publish: exit %d\n%s%s", code, out, errs)
	}
	c := pubDial(t, b.URL)
	whole, found := pubRetained(t, c, ".u/c/main@1.2.3")
	sum := sha256.Sum256(whole)
	var m struct {
		Components []struct{ Hash string } `json:"components"`
	}
	data, _ := os.ReadFile(mf)
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	// What a device that reads only the whole topic checks: the bytes
	// hash to the manifest's component hash.
	if !found || hex.EncodeToString(sum[:]) != m.Components[0].Hash {
		t.Fatal("the whole-artifact topic does not retain the manifest's bytes")
	}
	if x, err := c.ReadBlockIndex(context.Background(), ".u/c/main@1.2.3"); err != nil || x == nil || x.Count != 5 {
		t.Fatalf("index %+v: %v", x, err)
	}
	updatedFleet(t, b.URL, 2, "1.2.3")
}
