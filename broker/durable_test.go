package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/syncbuf"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"

	"github.com/otactl/otactl/internal/rawmqtt"
	"github.com/otactl/otactl/internal/tmpfs"
)

// retainedOrNone returns the retained message on topic, or "" when there
// is none (after a short wait, enough on loopback).
func retainedOrNone(t *testing.T, c paho.Client, topic string) string {
	t.Helper()
	s, _ := retainedWithin(t, c, topic, 500*time.Millisecond)
	return s
}

// failingTopics is a store fault that fails every commit holding one of
// its topics while it is on.
type failingTopics struct {
	on     atomic.Bool
	topics []string
	err    error
}

func (f *failingTopics) fault(topics []string) error {
	if !f.on.Load() {
		return nil
	}
	for _, t := range topics {
		if slices.Contains(f.topics, t) {
			return f.err
		}
	}
	return nil
}

// When the store fails, the publisher gets no PUBACK and its connection
// is closed, the broker says why, and neither a subscriber nor a restart
// ever sees the message that was not stored.
func TestStoreFailureIsNotAcknowledged(t *testing.T) {
	dir := t.TempDir()
	var log syncbuf.Buffer
	f := &failingTopics{topics: []string{"t/fail"}, err: &os.PathError{Op: "write", Path: filepath.Join(dir, DataFile), Err: syscall.EIO}}
	b := startBroker(t, Config{DataDir: dir, Logger: testLogger(&log), storeFault: f.fault})

	pub := rawmqtt.Dial(t, b.Addr(), rawmqtt.ConnectOptions{ID: "pub"}, testWait)
	if err := pub.PublishRetained("t/fail", []byte("v1"), testWait); err != nil {
		t.Fatalf("publish before the fault: %v", err)
	}
	watcher := mustConnect(t, clientOpts{url: b.URL(), id: "watcher"})
	live := make(chan string, 10)
	if tok := watcher.Subscribe("t/fail", 1, func(_ paho.Client, m paho.Message) { live <- string(m.Payload()) }); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if got := <-live; got != "v1" {
		t.Fatalf("retained before the fault: %q", got)
	}

	f.on.Store(true)
	err := pub.PublishRetained("t/fail", []byte("v2"), testWait)
	if err == nil {
		t.Fatal("a retained publish that could not be stored was acknowledged")
	}
	if rawmqtt.IsTimeout(err) {
		t.Fatalf("the publisher's connection was left open: %v", err)
	}
	want := "could not store retained message on t/fail: input/output error; closing the publisher's connection"
	if !strings.Contains(log.String(), want) {
		t.Errorf("log does not say %q:\n%s", want, log.String())
	}
	if strings.Contains(log.String(), dir) {
		t.Errorf("log names the database's path:\n%s", log.String())
	}
	// mochi sends a publish on to subscribers after its PUBACK, so v1
	// may come a second time; v2 must not come at all.
	for quiet := time.After(300 * time.Millisecond); ; {
		select {
		case got := <-live:
			if got != "v1" {
				t.Errorf("a subscriber was sent %q, which was not stored", got)
			}
			continue
		case <-quiet:
		}
		break
	}
	reader := mustConnect(t, clientOpts{url: b.URL(), id: "reader"})
	if got := retained(t, reader, "t/fail"); got != "v1" {
		t.Errorf("retained after the failed store = %q, want the stored v1", got)
	}

	// QoS 0 has no PUBACK: the connection is closed all the same.
	q0 := rawmqtt.Dial(t, b.Addr(), rawmqtt.ConnectOptions{ID: "q0"}, testWait)
	if err := q0.PublishRetainedQoS0("t/fail", []byte("v3")); err != nil {
		t.Fatal(err)
	}
	if !q0.Ends(testWait) {
		t.Error("a QoS 0 publisher whose message could not be stored stays connected")
	}
	if got := retained(t, reader, "t/fail"); got != "v1" {
		t.Errorf("retained after a failed QoS 0 store = %q, want v1", got)
	}

	// Deleting it, with an empty retained payload, is a write too.
	del := rawmqtt.Dial(t, b.Addr(), rawmqtt.ConnectOptions{ID: "del"}, testWait)
	if err := del.PublishRetained("t/fail", nil, testWait); err == nil {
		t.Error("a delete that could not be stored was acknowledged")
	}
	if got := retained(t, reader, "t/fail"); got != "v1" {
		t.Errorf("retained after a failed delete = %q, want v1", got)
	}

	// Writes that share a commit with the failing one still succeed.
	const others = 20
	errs := make(chan error, others+1)
	var wg sync.WaitGroup
	for i := range others + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := rawmqtt.Connect(b.Addr(), rawmqtt.ConnectOptions{ID: fmt.Sprint("p", i)}, testWait)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			topic := fmt.Sprint("t/ok/", i)
			if i == others {
				topic = "t/fail"
			}
			if err := c.PublishRetained(topic, []byte(fmt.Sprint("m", i)), testWait); err != nil {
				errs <- fmt.Errorf("%s: %w", topic, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var failed []string
	for err := range errs {
		failed = append(failed, err.Error())
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "t/fail:") {
		t.Errorf("of %d concurrent publishes only the one to t/fail should fail; failed: %v", others+1, failed)
	}

	f.on.Store(false)
	watcher.Disconnect(100)
	reader.Disconnect(100)
	r2 := restarted(t, b, dir)
	if got := retained(t, r2, "t/fail"); got != "v1" {
		t.Errorf("t/fail after a restart = %q, want v1", got)
	}
	for i := range others {
		topic := fmt.Sprint("t/ok/", i)
		if got := retained(t, r2, topic); got != fmt.Sprint("m", i) {
			t.Errorf("%s after a restart = %q", topic, got)
		}
	}
}

// On a disk too small for it, a retained message is refused (no PUBACK,
// connection closed, 'no space left on device' in the log); what was
// acknowledged before and after it survives a restart, and the one refused
// is served neither before nor after.
func TestDiskFullIsNotAcknowledged(t *testing.T) {
	dir := tmpfs.Mount(t, "6m")
	var log syncbuf.Buffer
	b := startBroker(t, Config{DataDir: dir, Logger: testLogger(&log)})
	small := bytes.Repeat([]byte("3"), 3<<20)
	big := bytes.Repeat([]byte("5"), 5<<20)

	c1 := rawmqtt.Dial(t, b.Addr(), rawmqtt.ConnectOptions{ID: "pub-1"}, testWait)
	if err := c1.PublishRetained(".u/c/main@3.0.0", small, testWait); err != nil {
		t.Fatalf("3 MiB on a 6 MiB disk: %v", err)
	}
	// A small message next to a large one does not rewrite the large one.
	if err := c1.PublishRetained(".u/desired", []byte(`{"sequenceNumber":1}`), testWait); err != nil {
		t.Fatalf("a small manifest after 3 MiB on a 6 MiB disk: %v", err)
	}
	c2 := rawmqtt.Dial(t, b.Addr(), rawmqtt.ConnectOptions{ID: "pub-2"}, testWait)
	if err := c2.PublishRetained(".u/c/main@5.0.0", big, testWait); err == nil {
		t.Fatal("5 MiB more on a 6 MiB disk was acknowledged")
	}
	want := "could not store retained message on .u/c/main@5.0.0: no space left on device; closing the publisher's connection"
	if !strings.Contains(log.String(), want) {
		t.Errorf("log does not say %q:\n%s", want, log.String())
	}
	c3 := rawmqtt.Dial(t, b.Addr(), rawmqtt.ConnectOptions{ID: "pub-3"}, testWait)
	if err := c3.PublishRetained(".u/desired", []byte(`{"sequenceNumber":3}`), testWait); err != nil {
		t.Fatalf("a small manifest after the failure: %v", err)
	}
	r := mustConnect(t, clientOpts{url: b.URL(), id: "reader"})
	if got := retainedOrNone(t, r, ".u/c/main@5.0.0"); got != "" {
		t.Errorf("the broker serves %d bytes it could not store", len(got))
	}
	r.Disconnect(100)
	r2 := restarted(t, b, dir)
	if got := retained(t, r2, ".u/c/main@3.0.0"); got != string(small) {
		t.Errorf("the acknowledged 3 MiB came back with %d bytes", len(got))
	}
	if got := retained(t, r2, ".u/desired"); got != `{"sequenceNumber":3}` {
		t.Errorf("the acknowledged manifest came back as %q", got)
	}
	if got := retainedOrNone(t, r2, ".u/c/main@5.0.0"); got != "" {
		t.Errorf("%d bytes never acknowledged came back after a restart", len(got))
	}
}

// An acknowledged retained message is on disk at once: a copy of the
// database taken right after the PUBACK, as a kill -9 would leave it,
// holds it.
func TestAcknowledgedIsOnDisk(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{DataDir: dir})
	c := rawmqtt.Dial(t, b.Addr(), rawmqtt.ConnectOptions{ID: "pub"}, testWait)
	for i := range 5 {
		if err := c.PublishRetained("devices/d/.u/desired", []byte(fmt.Sprint("seq ", i)), testWait); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, DataFile))
		if err != nil {
			t.Fatal(err)
		}
		crash := t.TempDir()
		if err := os.WriteFile(filepath.Join(crash, DataFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		b2 := startBroker(t, Config{DataDir: crash})
		r := mustConnect(t, clientOpts{url: b2.URL(), id: "reader"})
		if got := retained(t, r, "devices/d/.u/desired"); got != fmt.Sprint("seq ", i) {
			t.Fatalf("after PUBACK %d the database holds %q", i, got)
		}
		r.Disconnect(100)
		b2.Close()
	}
}

// A data folder written by an earlier version, with each message whole
// under its topic in one bucket, is converted and served.
func TestOldStoreIsConverted(t *testing.T) {
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, DataFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{".u/desired": `{"sequenceNumber":9}`, ".u/c/main@1.0.0": strings.Repeat("fw", 10000)}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(oldRetainedBucket)
		if err != nil {
			return err
		}
		for topic, payload := range want {
			m := storage.Message{T: storage.RetainedKey, ID: topic, TopicName: topic, Payload: []byte(payload),
				FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true, Qos: 1}, Created: 1}
			v, err := m.MarshalBinary()
			if err != nil {
				return err
			}
			if err := b.Put([]byte(topic), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	for round := range 2 {
		b := startBroker(t, Config{DataDir: dir})
		r := mustConnect(t, clientOpts{url: b.URL(), id: "reader"})
		for topic, payload := range want {
			if got := retained(t, r, topic); got != payload {
				t.Errorf("round %d: %s holds %d bytes, want %d", round, topic, len(got), len(payload))
			}
		}
		r.Disconnect(100)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A retained will is stored before it is retained; one that cannot be
// stored is delivered but not retained.
func TestRetainedWillIsStored(t *testing.T) {
	dir := t.TempDir()
	f := &failingTopics{topics: []string{"wills/bad"}, err: syscall.EIO}
	b := startBroker(t, Config{DataDir: dir, storeFault: f.fault})
	f.on.Store(true)
	watcher := mustConnect(t, clientOpts{url: b.URL(), id: "watcher"})
	live := make(chan string, 10)
	if tok := watcher.Subscribe("wills/#", 1, func(_ paho.Client, m paho.Message) { live <- m.Topic() }); !tok.WaitTimeout(testWait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	for _, topic := range []string{"wills/good", "wills/bad"} {
		c := rawmqtt.Dial(t, b.Addr(), rawmqtt.ConnectOptions{ID: topic[len("wills/"):], WillTopic: topic, WillMsg: "gone"}, testWait)
		c.Close() // without DISCONNECT: the will is sent
		if got := await(t, live, "the will on %s was not delivered", topic); got != topic {
			t.Fatalf("will on %s, want %s", got, topic)
		}
	}
	r := mustConnect(t, clientOpts{url: b.URL(), id: "reader"})
	if got := retained(t, r, "wills/good"); got != "gone" {
		t.Errorf("wills/good retains %q", got)
	}
	if got := retainedOrNone(t, r, "wills/bad"); got != "" {
		t.Errorf("a will that could not be stored is retained: %q", got)
	}
	r.Disconnect(100)
	watcher.Disconnect(100)
	r2 := restarted(t, b, dir)
	if got := retained(t, r2, "wills/good"); got != "gone" {
		t.Errorf("wills/good after a restart: %q", got)
	}
}

// TestCloseReportsDataFolderFailure: a failure to close the data folder is
// returned by Close, by every call (the broker's own stop on a cancelled
// context may come first), not lost in mochi's debug log.
func TestCloseReportsDataFolderFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b, err := Start(ctx, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), stopFault: func() error { return errors.New("disk gone") }})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-b.Done()
	err = b.Close()
	if err == nil || !strings.Contains(err.Error(), "close the data folder: disk gone") {
		t.Fatalf("Close after the context's stop = %v, want the data folder's failure", err)
	}
	if again := b.Close(); again == nil || again.Error() != err.Error() {
		t.Fatalf("Close again = %v, want %v", again, err)
	}
}
