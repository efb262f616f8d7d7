package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/keyset"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// retainedSeq is the sequence of the desired manifest retained on topic at
// url, 0 for none.
// awaitServing waits until the broker at url answers a connect and a
// retained read, for at most limit.
func awaitServing(t *testing.T, url string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := upload.Connect(ctx, upload.Options{Broker: url, Timeout: 5 * time.Second})
		if err == nil {
			_, _, err = c.ReadRetained(ctx, ".u/desired")
			c.Close()
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not serve after %s: %v", url, limit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func retainedSeq(t *testing.T, url, topic string) int64 {
	t.Helper()
	b, found := pubRetained(t, pubDial(t, url), topic)
	if !found {
		return 0
	}
	m, err := release.Parse(b)
	if err != nil {
		t.Fatalf("%s on %s: %v", topic, url, err)
	}
	return m.SequenceNumber
}

// TestPublishOnIndependentEndpointsFailsBeforeDesired: two brokers that
// pass nothing to each other, both listed: the artifact is not on the
// second, so the run fails there, named, with exit 3, before any desired
// manifest is visible anywhere. An endpoint that cannot be reached is
// exit 1, as early.
func TestPublishOnIndependentEndpointsFailsBeforeDesired(t *testing.T) {
	t.Parallel()
	a := testbroker.Embedded(t, broker.Config{})
	b := testbroker.Embedded(t, broker.Config{})
	e := newPubEnv(t)
	fw := e.file("fw.bin", pubRandom(4096))
	man := e.manifest("r.json", 1700, "", "main@1.0.0="+fw)

	out, errs, code := e.run("", "release", "publish", man, fw, "--broker", a.URL, "--verify-broker", b.URL, "--read-back-wait", "300ms")
	if code != ExitVerification || !strings.Contains(errs, "endpoint "+b.URL+": artifact main@1.0.0") || !strings.Contains(errs, "nothing was published") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	for _, url := range []string{a.URL, b.URL} {
		if seq := retainedSeq(t, url, ".u/desired"); seq != 0 {
			t.Errorf("%s retains desired sequence %d", url, seq)
		}
	}

	gone := "mqtt://127.0.0.1:1" // nothing listens on port 1
	out, errs, code = e.run("", "release", "publish", man, fw, "--broker", a.URL, "--verify-broker", gone, "--broker-timeout", "2s")
	if code != ExitError || !strings.Contains(errs, "endpoint "+gone+":") {
		t.Fatalf("unreachable: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if seq := retainedSeq(t, a.URL, ".u/desired"); seq != 0 {
		t.Errorf("unreachable: %s retains desired sequence %d", a.URL, seq)
	}
}

// TestPublishThroughABridge: a mosquitto edge bridged to a central one.
// Publishing through the central broker with the edge listed succeeds and
// the edge retains the release (so do upload and unpublish); with the
// bridge cut, the next publish fails on the edge (exit 3) before any
// desired manifest of it is visible on either, and an unpublish is exit
// 6; with the edge down, exit 1, before anything is sent.
func TestPublishThroughABridge(t *testing.T) {
	t.Parallel()
	br := testbroker.MosquittoBridge(t, testbroker.BridgeConfig{})
	central, edge := br.Central.URL, br.Edge.URL
	e := newPubEnv(t)
	fw := e.file("fw.bin", pubRandom(4096))
	man := e.manifest("r.json", 1700, "", "main@1.0.0="+fw)
	out := e.says([]string{"endpoint " + edge + ": artifacts confirmed", "endpoint " + edge + ": desired manifest confirmed"},
		"release", "publish", man, fw, "--broker", central, "--verify-broker", edge, "--device", "d1")
	for _, url := range []string{central, edge} {
		if seq := retainedSeq(t, url, "devices/d1/.u/desired"); seq != 1700 {
			t.Errorf("%s retains sequence %d\n%s", url, seq, out)
		}
		if _, found := pubRetained(t, pubDial(t, url), ".u/c/main@1.0.0"); !found {
			t.Errorf("%s does not retain the artifact", url)
		}
	}

	// upload and unpublish confirm on the edge too.
	fw3 := e.file("fw3.bin", pubRandom(2048))
	e.says([]string{"endpoint " + edge + ": artifacts confirmed"}, "upload", "extra@1.0.0", fw3, "--broker", central, "--verify-broker", edge)
	e.must(0, "release", "publish", man, fw, "--broker", central, "--device", "d2")
	e.says([]string{"endpoint " + edge + ": unpublish confirmed"}, "release", "unpublish", "--device", "d2", "--broker", central, "--verify-broker", edge)
	if b, _ := pubRetained(t, pubDial(t, edge), "devices/d2/.u/desired"); string(b) != "{}" {
		t.Errorf("edge retains %q on d2 after unpublish", b)
	}

	br.Cut()
	fw2 := e.file("fw2.bin", pubRandom(4096))
	man2 := e.manifest("r2.json", 1800, "", "main@2.0.0="+fw2)
	out, errs, code := e.run("", "release", "publish", man2, fw2, "--broker", central, "--verify-broker", edge, "--device", "d1", "--read-back-wait", "500ms")
	if code != ExitVerification || !strings.Contains(errs, "endpoint "+edge+": artifact main@2.0.0") {
		t.Fatalf("bridge cut: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	for _, url := range []string{central, edge} {
		if seq := retainedSeq(t, url, "devices/d1/.u/desired"); seq != 1700 {
			t.Errorf("bridge cut: %s retains sequence %d", url, seq)
		}
	}

	// Unpublish with the bridge cut: the central broker takes the empty
	// manifest, the edge keeps the release: exit 6.
	out, errs, code = e.run("", "release", "unpublish", "--device", "d1", "--broker", central, "--verify-broker", edge, "--read-back-wait", "500ms", "-o", "json")
	if code != ExitPartial || !strings.Contains(out, `"confirmed":false`) || !strings.Contains(errs, "unpublish not confirmed on every endpoint: endpoint "+edge) {
		t.Fatalf("unpublish, bridge cut: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if seq := retainedSeq(t, edge, "devices/d1/.u/desired"); seq != 1700 {
		t.Errorf("unpublish, bridge cut: edge retains sequence %d", seq)
	}

	br.Edge.Mosquitto.Stop()
	_, errs, code = e.run("", "release", "publish", man2, fw2, "--broker", central, "--verify-broker", edge, "--device", "d3", "--broker-timeout", "2s")
	if code != ExitError || !strings.Contains(errs, "endpoint "+edge+":") {
		t.Fatalf("edge down: exit %d\n%s", code, errs)
	}
	if seq := retainedSeq(t, central, "devices/d3/.u/desired"); seq != 0 {
		t.Errorf("edge down: central retains sequence %d", seq)
	}
}

// TestPublishNotConfirmedOnTheEdgeExits6: the usual bridge that carries
// .u/# but not devices/+/.u/desired: the artifact reaches the edge, the
// device's manifest does not. The release is live on the central broker,
// so the run exits 6, and -o json says what each endpoint confirmed.
func TestPublishNotConfirmedOnTheEdgeExits6(t *testing.T) {
	t.Parallel()
	br := testbroker.MosquittoBridge(t, testbroker.BridgeConfig{Topics: []string{".u/# in 1"}})
	central, edge := br.Central.URL, br.Edge.URL
	e := newPubEnv(t)
	e.env["OTACTL_VERIFY_BROKERS"] = edge
	fw := e.file("fw.bin", pubRandom(4096))
	man := e.manifest("r.json", 1700, "", "main@1.0.0="+fw)
	out, errs, code := e.run("", "release", "publish", man, fw, "--broker", central, "--device", "d1", "--read-back-wait", "500ms", "-o", "json")
	if code != ExitPartial || !strings.Contains(errs, "not confirmed on every endpoint: endpoint "+edge+": verification failed: devices/d1/.u/desired: nothing is retained there") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	var rep struct {
		SequenceNumber int64 `json:"sequenceNumber"`
		Endpoints      []struct {
			URL       string `json:"url"`
			Confirmed bool   `json:"confirmed"`
			Error     string `json:"error"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.SequenceNumber != 1700 || len(rep.Endpoints) != 2 || rep.Endpoints[0].URL != central || !rep.Endpoints[0].Confirmed ||
		rep.Endpoints[1].URL != edge || rep.Endpoints[1].Confirmed || !strings.Contains(rep.Endpoints[1].Error, "devices/d1/.u/desired: nothing is retained there") {
		t.Errorf("report %+v", rep)
	}

	// With --wait, the same report (schema release-publish) and no gate.
	out, errs, code = e.run("", "release", "publish", man, fw, "--broker", central, "--device", "d2", "--read-back-wait", "500ms", "-o", "json", "--wait", "--wait-timeout", "5s")
	var waited struct {
		Schema    string           `json:"schema"`
		Gate      *json.RawMessage `json:"gate"`
		Endpoints []struct {
			Confirmed bool `json:"confirmed"`
		} `json:"endpoints"`
	}
	if code != ExitPartial || json.Unmarshal([]byte(out), &waited) != nil || waited.Schema != "otactl/release-publish/v1" ||
		waited.Gate != nil || len(waited.Endpoints) != 2 || waited.Endpoints[1].Confirmed {
		t.Fatalf("--wait: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
}

// TestPublishOnANATSCluster: a 3-node NATS cluster with MQTT and
// JetStream, publishing through one node with the others listed: every
// node retains the release, and 100 small uploads confirmed on every node
// give no false failure. With a listed node down, the next publish
// fails (exit 1) before any desired manifest of it is visible anywhere.
func TestPublishOnANATSCluster(t *testing.T) {
	t.Parallel()
	c := testbroker.NATS(t, testbroker.NATSConfig{})
	urls := c.URLs()
	e := newPubEnv(t)
	fw := e.file("fw.bin", pubRandom(64<<10))
	man := e.manifest("r.json", 1700, "", "main@1.0.0="+fw)
	args := []string{"release", "publish", man, fw, "--broker", urls[0], "--verify-broker", urls[1], "--verify-broker", urls[2], "-o", "json"}
	out := e.must(0, args...)
	var rep struct {
		Endpoints []struct {
			URL       string `json:"url"`
			Confirmed bool   `json:"confirmed"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Endpoints) != 3 {
		t.Fatalf("%v\n%s", err, out)
	}
	for i, url := range urls {
		if rep.Endpoints[i].URL != url || !rep.Endpoints[i].Confirmed {
			t.Errorf("endpoint %d: %+v", i, rep.Endpoints[i])
		}
		if seq := retainedSeq(t, url, ".u/desired"); seq != 1700 {
			t.Errorf("%s retains sequence %d", url, seq)
		}
		if b, found := pubRetained(t, pubDial(t, url), ".u/c/main@1.0.0"); !found || len(b) != 64<<10 {
			t.Errorf("%s: artifact %d bytes, found %v", url, len(b), found)
		}
	}

	// 100 small uploads, each through another node and confirmed on every
	// node: NATS serves a message a little after acknowledging it, which
	// the read-back wait absorbs: no false failure.
	for i := range 100 {
		first := urls[i%3]
		args := []string{"upload", fmt.Sprintf("small@1.0.%d", i), e.file("small.bin", pubRandom(512)), "--broker", first}
		for _, u := range urls {
			if u != first {
				args = append(args, "--verify-broker", u)
			}
		}
		if _, errs, code := e.run("", args...); code != 0 {
			t.Fatalf("upload %d through %s: exit %d\n%s", i, first, code, errs)
		}
	}

	// The survivors may refuse or drop connections for seconds while
	// JetStream elects new leaders (docs/brokers.md): wait until both
	// serve a retained read again, so that the run below meets the
	// killed node and not that transient.
	c.Nodes[2].Kill()
	for _, url := range urls[:2] {
		awaitServing(t, url, time.Minute)
	}
	fw2 := e.file("fw2.bin", pubRandom(1024))
	man2 := e.manifest("r2.json", 1800, "", "main@2.0.0="+fw2)
	_, errs, code := e.run("", "release", "publish", man2, fw2, "--broker", urls[0], "--verify-broker", urls[1], "--verify-broker", urls[2], "--broker-timeout", "5s")
	if code != ExitError || !strings.Contains(errs, "endpoint "+urls[2]+":") || !strings.Contains(errs, "nothing was published") {
		t.Fatalf("node down: exit %d\n%s", code, errs)
	}
	for _, url := range urls[:2] {
		if seq := retainedSeq(t, url, ".u/desired"); seq != 1700 {
			t.Errorf("node down: %s retains sequence %d", url, seq)
		}
	}
}

// TestKeyRotateConfirmsEveryEndpoint: key rotate reads the key set back
// on every endpoint devices use, as a publish does its manifest: through a
// bridge (OTACTL_VERIFY_BROKERS) it is confirmed on the edge; on a broker
// that nothing reaches it is published but not confirmed there (exit 6,
// -o json saying what each endpoint confirmed); with an endpoint down,
// nothing is published (exit 1).
func TestKeyRotateConfirmsEveryEndpoint(t *testing.T) {
	t.Parallel()
	br := testbroker.MosquittoBridge(t, testbroker.BridgeConfig{})
	central, edge := br.Central.URL, br.Edge.URL
	alone := testbroker.Embedded(t, broker.Config{}).URL
	e := newPubEnv(t)
	rootPriv, _ := e.signingKey("root")
	_, rel1 := e.signingKey("release-1")
	_, rel2 := e.signingKey("release-2")
	rotate := []string{"key", "rotate", "--root-key", "file:" + rootPriv, "--broker", central, "--read-back-wait", "500ms"}

	e.env["OTACTL_VERIFY_BROKERS"] = edge
	e.says([]string{"endpoint " + edge + ": key set confirmed", "key set version 1 published to .u/keys"},
		append(rotate, "--bootstrap", "--release-key", rel1)...)
	if ks, _ := pubRetained(t, pubDial(t, edge), ".u/keys"); len(ks) == 0 {
		t.Fatal("the edge does not retain the key set")
	}

	e.env["OTACTL_VERIFY_BROKERS"] = alone
	out, errs, code := e.run("", append(rotate, "--release-key", rel2, "-o", "json")...)
	if code != ExitPartial || !strings.Contains(errs, "key set not confirmed on every endpoint: endpoint "+alone+": verification failed: .u/keys: nothing is retained there") {
		t.Fatalf("an endpoint nothing reaches: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	var rep publish.RotateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Version != 2 || rep.Action != publish.KeySetPublished ||
		len(rep.Endpoints) != 2 || rep.Endpoints[0].URL != central || !rep.Endpoints[0].Confirmed || rep.Endpoints[1].URL != alone || rep.Endpoints[1].Confirmed {
		t.Fatalf("report %+v (%v)\n%s", rep, err, out)
	}

	// An endpoint down: exit 1, and the central broker keeps version 2.
	delete(e.env, "OTACTL_VERIFY_BROKERS")
	_, errs, code = e.run("", append(rotate, "--release-key", rel1, "--verify-broker", "mqtt://127.0.0.1:1", "--broker-timeout", "2s")...)
	if code != ExitError || !strings.Contains(errs, "endpoint mqtt://127.0.0.1:1") || !strings.Contains(errs, "nothing was published") {
		t.Fatalf("an endpoint down: exit %d\n%s", code, errs)
	}
	b, _ := pubRetained(t, pubDial(t, central), ".u/keys")
	if ks, err := keyset.Parse(b); err != nil || ks.Version != 2 {
		t.Fatalf("central retains %v (%v) after a refused rotation", ks, err)
	}
}
