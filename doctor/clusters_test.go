package doctor_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/otactl/otactl/doctor"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/publish"
	"github.com/otactl/otactl/upload"
)

// TestNATSCluster runs against one real 3-node NATS cluster with MQTT and
// JetStream (stream replicas 3), started once for its subtests: doctor
// passes with every node listed, and measures propagation; 100 small
// uploads through one node, each read back, give no false failure
// (NATS serves a stored message 0.06-0.16 s after acknowledging it);
// with a node killed, doctor names it.
func TestNATSCluster(t *testing.T) {
	c := testbroker.NATS(t, testbroker.NATSConfig{})
	urls := c.URLs()
	t.Run("doctor", func(t *testing.T) {
		rep := doctor(t, Options{Need: 4 << 20}, urls[0], urls[1:]...)
		if !rep.OK {
			t.Fatalf("failed: %+v", rep.Failed())
		}
		for _, u := range urls[1:] {
			if p := check(t, rep, CheckPropagation, u); p.Seconds <= 0 || p.Seconds > 5 {
				t.Errorf("propagation %+v", p)
			}
		}
		for _, u := range urls {
			nothingLeft(t, u)
		}
	})
	t.Run("uploads", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.bin")
		if err := os.WriteFile(path, make([]byte, 1000), 0o644); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		failed := 0
		for i := range 100 {
			if err := uploadOnce(ctx, urls[0], path, "1.0."+strconv.Itoa(i)); err != nil {
				failed++
				t.Errorf("upload %d: %v", i, err)
			}
		}
		t.Logf("100 uploads through %s: %d failed", urls[0], failed)
	})
	t.Run("node down", func(t *testing.T) {
		c.Nodes[2].Kill()
		// Only the killed node: the survivors may take many seconds to
		// serve again (docs/brokers.md), and each check would wait.
		rep := doctor(t, Options{}, urls[2])
		if n3 := check(t, rep, CheckConnect, urls[2]); rep.OK || n3.OK || !strings.Contains(n3.Detail, "connection refused") {
			t.Fatalf("with n3 killed: %+v", n3)
		}
	})
}

// uploadOnce is `otactl upload main@VERSION PATH`: a connection of its
// own, the artifact put and read back.
func uploadOnce(ctx context.Context, url, path, version string) error {
	cl, err := upload.Connect(ctx, upload.Options{Broker: url})
	if err != nil {
		return err
	}
	defer cl.Close()
	f, size, err := publish.OpenArtifact(path, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	topic, err := cl.Topics().Component("main", version)
	if err != nil {
		return err
	}
	_, err = publish.PutArtifact(ctx, cl, publish.ArtifactPut{Topic: topic, Name: "main@" + version, Path: path, File: f, Size: size}, nil)
	return err
}

// TestMosquittoBridge: doctor passes on a mosquitto edge bridged to a
// central mosquitto with both listed (the probes travel under .u/#, as
// releases do), and measures propagation; with the bridge cut, it names
// the edge as not served.
func TestMosquittoBridge(t *testing.T) {
	b := testbroker.MosquittoBridge(t, testbroker.BridgeConfig{})
	rep := doctor(t, Options{}, b.Central.URL, b.Edge.URL)
	if !rep.OK {
		t.Fatalf("failed: %+v", rep.Failed())
	}
	if p := check(t, rep, CheckPropagation, b.Edge.URL); p.Seconds <= 0 || p.Seconds > 5 {
		t.Errorf("propagation %+v", p)
	}
	b.Cut()
	rep = doctor(t, Options{PropagationTimeout: 2 * time.Second}, b.Central.URL, b.Edge.URL)
	if f := rep.Failed(); len(f) != 1 || f[0].Name != CheckPropagation || f[0].Endpoint != b.Edge.URL {
		t.Fatalf("with the bridge cut: failed %+v", f)
	}
	b.Restore(t)
	nothingLeft(t, b.Central.URL)
	nothingLeft(t, b.Edge.URL)
}

// TestMosquittoBridgeWithoutDeviceTopics: the usual bridge (.u/# in,
// devices/# out) never brings devices/{id}/.u/desired to the edge: doctor
// names that topic.
func TestMosquittoBridgeWithoutDeviceTopics(t *testing.T) {
	b := testbroker.MosquittoBridge(t, testbroker.BridgeConfig{Topics: []string{".u/# in 1", "devices/# out 1"}})
	rep := doctor(t, Options{PropagationTimeout: 2 * time.Second}, b.Central.URL, b.Edge.URL)
	f := rep.Failed()
	if len(f) != 1 || f[0].Name != CheckPropagation || !strings.Contains(f[0].Detail, "after 2s: devices/otactl-doctor-") ||
		strings.Contains(f[0].Detail, ".u/doctor/") || !strings.Contains(f[0].Hint, "devices/+/.u/desired in") {
		t.Fatalf("failed %+v", f)
	}
}

// TestMosquittoBridgeEdgeLimit: every hop's size limit counts: an edge
// with a 256 KiB message_size_limit fails --need 512k, the central broker
// passes.
func TestMosquittoBridgeEdgeLimit(t *testing.T) {
	b := testbroker.MosquittoBridge(t, testbroker.BridgeConfig{EdgeMessageSizeLimit: 256 << 10})
	rep := doctor(t, Options{Need: 512 << 10, Connect: upload.Options{ReadBackWait: 300 * time.Millisecond}}, b.Central.URL, b.Edge.URL)
	f := rep.Failed()
	if len(f) != 1 || f[0].Name != CheckSize || f[0].Endpoint != b.Edge.URL || f[0].Bytes > 256<<10 || f[0].Bytes < 240<<10 {
		t.Fatalf("failed %+v", f)
	}
}
