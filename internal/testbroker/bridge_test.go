package testbroker

import (
	"context"
	"testing"
	"time"

	"github.com/otactl/otactl/upload"
)

// publishOn publishes payload retained on topic through url, retrying for
// up to a minute: after a node is lost the cluster elects new leaders, and
// NATS refuses MQTT sessions until it has.
func publishOn(t *testing.T, url, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		err := publishRetained(ctx, url, topic, payload)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal(err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// serves waits up to a minute until url serves want on topic.
func serves(t *testing.T, url, topic, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := awaitRetained(ctx, url, topic, want); err != nil {
		t.Fatal(err)
	}
}

// TestMosquittoBridge: what otactl publishes on the central broker reaches
// the edge (release topics, desired manifests of devices), device reports
// go the other way; a cut bridge leaves the edge stale until restored.
func TestMosquittoBridge(t *testing.T) {
	b := MosquittoBridge(t, BridgeConfig{})
	central, edge := b.Central.URL, b.Edge.URL
	publishOn(t, central, ".u/c/main@1.0.0", "bin")
	publishOn(t, central, "devices/d1/.u/desired", "dev")
	publishOn(t, central, "cohorts/canary/.u/desired", "coh")
	publishOn(t, edge, "devices/d1/.u/c/main", "report")
	serves(t, edge, ".u/c/main@1.0.0", "bin")
	serves(t, edge, "devices/d1/.u/desired", "dev")
	serves(t, edge, "cohorts/canary/.u/desired", "coh")
	serves(t, central, "devices/d1/.u/c/main", "report")

	b.Cut()
	publishOn(t, central, ".u/desired", "cut")
	time.Sleep(time.Second)
	if got, err := readRetained(context.Background(), edge, ".u/desired"); err != nil || len(got) != 0 {
		t.Fatalf("with the bridge cut the edge serves %q (%v)", got, err)
	}
	b.Restore(t)
	serves(t, edge, ".u/desired", "cut")
}

// TestBridgeTopicsPrefix: the topic prefix is mapped on both sides.
func TestBridgeTopicsPrefix(t *testing.T) {
	got := BridgeTopics("acme/")
	if len(got) != 4 || got[2] != "devices/+/.u/desired in 1 acme/ acme/" || BridgeTopics("")[0] != ".u/# in 1" {
		t.Fatalf("%q", got)
	}
}

// TestQuirky: the quirky broker keeps retained messages but sends none to
// wildcard subscriptions, or rewrites the dots of delivered topics.
func TestQuirky(t *testing.T) {
	ctx := context.Background()
	nowild := Quirky(t, Quirks{NoRetainedToWildcards: true})
	if err := publishRetained(ctx, nowild.URL, ".u/c/main@1.0.0", "bin"); err != nil {
		t.Fatal(err)
	}
	serves(t, nowild.URL, ".u/c/main@1.0.0", "bin")
	cl, err := upload.Connect(ctx, upload.Options{Broker: nowild.URL, QuietPeriod: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	if err := cl.ReadRetainedAll(ctx, ".u/c/+", func(string, []byte) { n++ }); err != nil || n != 0 {
		t.Fatalf("a wildcard read got %d messages (%v), want none", n, err)
	}

	rewrite := Quirky(t, Quirks{RewriteDots: true})
	rc, err := upload.Connect(ctx, upload.Options{Broker: rewrite.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := make(chan upload.Message, 4)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := rc.Subscribe(sctx, []string{".u/c/main@1.0.0", "/u/c/main@1/0/0"}, out); err != nil {
		t.Fatal(err)
	}
	if err := rc.PublishRetained(ctx, ".u/c/main@1.0.0", []byte("bin")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-out:
		if m.Topic != "/u/c/main@1/0/0" {
			t.Fatalf("delivered on %q", m.Topic)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered")
	}
}
