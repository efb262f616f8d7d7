package commands

// End-to-end checks of what devices on the Golioth firmware SDK see
// (docs/protocol.md, "Devices on the Golioth firmware SDK"), against every
// test broker.

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/fleet"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/output"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// TestRetryingShownE2E: after a failed download the Golioth SDK reports
// the failure, then idle, then idle awaiting retry with the target, and
// only the last stays retained. Fed the SDK's own payloads live, the live
// view shows the device as retrying with the failure's reason; rollout
// status (the retained picture, the failure gone) shows it as retrying in
// the table and in JSON; rollout wait fails with it at once.
func TestRetryingShownE2E(t *testing.T) {
	onEveryBroker(t, func(t *testing.T, env *testbroker.Broker) {
		const prefix = "retrying/"
		pub := func(topic string, payload []byte) { env.Publish(t, prefix+topic, payload) }
		pub(".u/desired", manifestPayload(t, 1000, true, map[string]string{"main": "1.1.0"}))
		pub("devices/ok/.u/c/main", sdkPayload(t, 1, 0, "1.0.0", "1.1.0"))

		// The live view follows the reports as they come.
		c, err := dialerFor(env.URL, prefix)(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		src := fleet.NewSource(c, fleet.SourceOptions{Stale: fleet.DefaultStale})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := src.ReadAll(ctx); err != nil {
			t.Fatal(err)
		}
		followed := make(chan error, 1)
		// Publish once the subscription is live: the retained reports
		// come first, as a batch.
		subscribed := make(chan struct{}, 1)
		go func() {
			followed <- src.Follow(ctx, nil, func() {
				select {
				case subscribed <- struct{}{}:
				default:
				}
			})
		}()
		select {
		case <-subscribed:
		case err := <-followed:
			t.Fatalf("follow: %v", err)
		}
		for _, p := range [][]byte{
			sdkPayload(t, 1, 0, "1.0.0", "1.1.0"),
			sdkPayload(t, 1, 5, "1.0.0", "1.1.0"),
			sdkPayload(t, 0, 0, "1.0.0", ""),
			sdkPayload(t, 0, 11, "1.0.0", "1.1.0"),
		} {
			pub("devices/sdk/.u/c/main", p)
		}
		var row fleet.Row
		waitFor(t, "the device retrying", func() bool {
			rows := src.Fleet().View(fleet.Filter{Devices: []string{"sdk"}}, 0).Rows
			if len(rows) == 1 {
				row = rows[0]
			}
			return row.Status == fleet.StatusRetrying
		})
		cancel()
		<-followed
		if row.LastFailure != 5 {
			t.Errorf("live row: last failure %d, want 5 (integrity)", row.LastFailure)
		}
		m := &liveModel{fleet: src.Fleet(), renderer: output.PlainRenderer(), title: func() string { return "live" },
			width: 100, height: 20, clock: time.Now}
		m.redraw()
		if line := lineWith(m.View(), "sdk "); !strings.Contains(line, "retrying") || !strings.Contains(line, "integrity-check-failed") ||
			!strings.Contains(m.View(), "retrying 1") {
			t.Errorf("live view:\n%s", m.View())
		}

		// rollout status reads only what is retained: (0,11).
		sys, stdout, stderr := watchTestSystem(watchNow)
		opts := &rolloutStatusOptions{Filters: fleetFilterOptions{Package: "main", Stale: fleet.DefaultStale}, Output: "json"}
		if err := rolloutStatusRun(context.Background(), sys, opts, dialerFor(env.URL, prefix)); err != nil {
			t.Fatalf("status: %v\n%s", err, stderr)
		}
		var st struct {
			Summary fleet.Summary
			Devices []map[string]any
		}
		if err := json.Unmarshal([]byte(stdout.String()), &st); err != nil {
			t.Fatalf("%v: %s", err, stdout)
		}
		if st.Summary.Retrying != 1 || st.Summary.Failed != 0 || len(st.Devices) != 2 ||
			st.Devices[0]["device"] != "sdk" || st.Devices[0]["status"] != "retrying" || st.Devices[0]["reasonName"] != "awaiting-retry" {
			t.Errorf("rollout status -o json: %s", stdout)
		}
		sys, stdout, _ = watchTestSystem(watchNow)
		opts.Output = "text"
		if err := rolloutStatusRun(context.Background(), sys, opts, dialerFor(env.URL, prefix)); err != nil {
			t.Fatal(err)
		}
		if line := lineWith(stdout.String(), "sdk\t"); !strings.HasPrefix(line, "sdk\tmain\tretrying\tidle\tawaiting-retry\t1.0.0\t1.1.0\t") {
			t.Errorf("rollout status in a pipe: %q", stdout)
		}

		res := runOtactl(t, "", nil, "", "rollout", "wait", "--broker", env.URL, "--topic-prefix", prefix, "--version", "1.1.0",
			"--min-updated", "50%", "--max-failed", "0", "--timeout", "2m", "-o", "json")
		if res.code != ExitRolloutFail || !strings.Contains(res.stdout, `"status":"retrying"`) ||
			!strings.Contains(res.stderr, "1 failed (1 retrying, allowed 0)") {
			t.Errorf("rollout wait: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
		}
	})
}

// lineWith is the first line of s that contains sub, or "".
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestUnpublishEmptyManifestE2E: release unpublish publishes the empty
// manifest of the encoding retained ({} for JSON, the byte a0 for CBOR),
// retained, so that a device online sees it live and one connecting later
// finds it; release current calls it "no release" (exit 0); the next
// publish is not held back by anti-rollback, whatever its sequence; and
// --clear deletes the retained message instead.
func TestUnpublishEmptyManifestE2E(t *testing.T) {
	eachPubBroker(t, func(t *testing.T, e *pubEnv, c *upload.Client) {
		app := e.file("app.bin", pubRandom(3000))
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
		e.says([]string{"fleet: published the empty manifest (json) to .u/desired (was sequence 2000): no release"}, "release", "unpublish")
		if got, _ := pubRetained(t, c, ".u/desired"); string(got) != "{}" {
			t.Fatalf("the fleet topic retains %q, want {}", got)
		}
		e.says([]string{"already retains the empty manifest (json)"}, "release", "unpublish")
		e.says([]string{"no release"}, "release", "current", "--device", "d1")
		e.says([]string{`"noRelease":true`, `"manifest":null`}, "release", "current", "-o", "json")

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

// TestPublishUnderTopicPrefixE2E: under --topic-prefix acme/ the artifact
// is at acme/.u/c/main@1.3.0 while the manifest's uri, signed, stays
// /.u/c/main@1.3.0, relative to the prefix (devices put their prefix
// before it). A manifest whose uri holds the prefix is refused before
// anything is sent.
func TestPublishUnderTopicPrefixE2E(t *testing.T) {
	eachPubBroker(t, func(t *testing.T, e *pubEnv, c *upload.Client) {
		e.env["OTACTL_TOPIC_PREFIX"] = "acme/"
		data := pubRandom(2000)
		app := e.file("app.bin", data)
		mf := e.manifest("r.json", 1000, "", "main@1.3.0="+app)
		e.must(0, "release", "publish", mf, app)
		if got, found := pubRetained(t, c, "acme/.u/c/main@1.3.0"); !found || !bytes.Equal(got, data) {
			t.Fatal("the artifact is not at acme/.u/c/main@1.3.0")
		}
		got, _ := pubRetained(t, c, "acme/.u/desired")
		m, err := release.Parse(got)
		if err != nil || m.Components[0].URI != "/.u/c/main@1.3.0" {
			t.Fatalf("acme/.u/desired: %v, %v", m, err)
		}

		// The prefix put into the uri (by another tool): refused.
		m.SequenceNumber = 2000
		m.Components[0].URI = "/acme/.u/c/main@1.3.0"
		m.Seal()
		bad, err := release.EncodeJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		badFile := e.file("bad.json", bad)
		_, errs, code := e.run("", "release", "publish", badFile, app)
		if code != ExitVerification || !strings.Contains(errs, `holds the topic prefix "acme/"`) {
			t.Errorf("a uri holding the prefix: exit %d\n%s", code, errs)
		}
		if got, _ := pubRetained(t, c, "acme/.u/desired"); string(got) != mustRead(t, mf) {
			t.Error("the refused manifest changed acme/.u/desired")
		}
	})
}
