package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/upload"
)

// TestUnpublishEmptyManifestE2E: release unpublish publishes the empty
// manifest of the encoding retained ({} for JSON, the byte a0 for CBOR),
// retained, so that a device online sees it live and one connecting later
// finds it; release current calls it "no release" (exit 0); the next
// publish is not held back by anti-rollback, whatever its sequence; and
// --clear deletes the retained message instead.
func TestUnpublishEmptyManifestE2E(t *testing.T) {
	t.Parallel()
	for _, b := range testbroker.All(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newPubEnv(t)
			e.env["OTACTL_BROKER"] = b.URL
			c, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			app := e.file("app.bin", pubRandom(t, 3000))
			m := e.manifest("r.json", 2000, "", "main@1.2.3="+app)
			e.must(0, "release", "publish", m, app, "--device", "d1", "--encoding", "cbor")
			e.must(0, "release", "publish", m, app)

			// A device online now: it gets the empty manifest live.
			live := make(chan upload.Message, 8)
			if err := c.Subscribe(context.Background(), []string{"devices/d1/.u/desired"}, live); err != nil {
				t.Fatal(err)
			}
			waitMessage(t, live, func(p []byte) bool { return p[0] != 0xa0 }) // the CBOR release, retained

			out := e.must(0, "release", "unpublish", "--device", "d1", "-o", "json")
			var rep struct {
				Targets []struct{ Action, Encoding string }
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Targets) != 1 || rep.Targets[0].Action != "unpublished" || rep.Targets[0].Encoding != "cbor" {
				t.Fatalf("unpublish -o json: %s (%v)", out, err)
			}
			waitMessage(t, live, func(p []byte) bool { return bytes.Equal(p, []byte{0xa0}) })
			// A device connecting later: a0 is retained.
			if got, found := pubRetained(t, c, "devices/d1/.u/desired"); !found || !bytes.Equal(got, []byte{0xa0}) {
				t.Fatalf("the device topic retains % x (found %v), want a0", got, found)
			}
			out = e.must(0, "release", "unpublish")
			if !strings.Contains(out, "fleet: published the empty manifest (json) to .u/desired (was sequence 2000): no release") {
				t.Fatalf("unpublish the fleet:\n%s", out)
			}
			if got, _ := pubRetained(t, c, ".u/desired"); string(got) != "{}" {
				t.Fatalf("the fleet topic retains %q, want {}", got)
			}
			out = e.must(0, "release", "unpublish")
			if !strings.Contains(out, "already retains the empty manifest (json)") {
				t.Errorf("second unpublish: %s", out)
			}

			out = e.must(0, "release", "current", "--device", "d1")
			if !strings.Contains(out, "no release") {
				t.Errorf("release current: %s", out)
			}
			out = e.must(0, "release", "current", "-o", "json")
			if !strings.Contains(out, `"noRelease":true`) || !strings.Contains(out, `"manifest":null`) {
				t.Errorf("release current -o json: %s", out)
			}

			// "No release" has no sequence: a lower one than the release
			// taken back is published.
			low := e.manifest("low.json", 1500, "", "main@1.2.3="+app)
			e.must(0, "release", "publish", low, "--device", "d1", "--encoding", "cbor")
			e.must(0, "release", "current", "--device", "d1")

			// --clear leaves nothing retained; current then finds nothing.
			e.must(ExitUsage, "release", "unpublish", "--clear", "--encoding", "json")
			e.must(ExitUsage, "release", "unpublish", "--encoding", "xml")
			e.must(0, "release", "unpublish", "--device", "d1", "--clear")
			if _, found := pubRetained(t, c, "devices/d1/.u/desired"); found {
				t.Fatal("--clear left a retained message")
			}
			e.must(ExitError, "release", "current", "--device", "d1")
		})
	}
}

// waitMessage waits for a message whose payload match accepts.
func waitMessage(t *testing.T, ch <-chan upload.Message, match func([]byte) bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case m := <-ch:
			if len(m.Payload) > 0 && match(m.Payload) {
				return
			}
		case <-deadline:
			t.Fatal("gave up waiting for the message")
		}
	}
}
