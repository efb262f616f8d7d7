package simulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/mosquitto"
	"github.com/otactl/otactl/internal/tcpproxy"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// blocked is an artifact cut into blocks, as a broker would retain it.
type blocked struct {
	topic    string
	x        *upload.BlockIndex
	retained map[string][]byte
}

func cut(t *testing.T, topic string, img []byte, blockSize int64) *blocked {
	t.Helper()
	x, err := upload.HashBlocks(context.Background(), bytes.NewReader(img), int64(len(img)), blockSize)
	if err != nil {
		t.Fatal(err)
	}
	b := &blocked{topic: topic, x: x, retained: map[string][]byte{upload.BlockIndexTopic(topic): x.Encode()}}
	for i := range x.Count {
		off, n := x.Block(i)
		b.retained[upload.BlockTopic(topic, i)] = img[off : off+n]
	}
	return b
}

// fetchFrom is a Fetch of the messages in retained.
func fetchFrom(retained map[string][]byte) Fetch {
	return func(_ context.Context, topic string, w io.Writer) (bool, error) {
		p, ok := retained[topic]
		if ok {
			_, _ = w.Write(p)
		}
		return ok, nil
	}
}

// bufferSink is a Sink that keeps what it is written.
type bufferSink struct {
	bytes.Buffer
	kept int
}

func (s *bufferSink) Commit() { s.kept = s.Len() }
func (s *bufferSink) Rewind() { s.Truncate(s.kept) }

func TestBlockDownloadResumesAfterADroppedConnection(t *testing.T) {
	img := image("1.1.0", 5000)
	c := &manifestFor(100, "1.1.0", img, release.ComponentURI("main", "1.1.0")).Components[0]
	b := cut(t, ".u/c/main@1.1.0", img, 1024)
	var fetched []string
	drop := upload.BlockTopic(b.topic, 3)
	fetch := func(ctx context.Context, topic string, w io.Writer) (bool, error) {
		if topic == drop {
			// Half the block has streamed into the sink when the
			// connection drops: it is taken back.
			drop = ""
			_, _ = w.Write(b.retained[topic][:512])
			return false, errors.New("connection lost")
		}
		fetched = append(fetched, topic)
		return fetchFrom(b.retained)(ctx, topic, w)
	}
	var sink bufferSink
	d, reason, why := NewBlockDownload(b.x, c, &sink)
	if d == nil {
		t.Fatalf("%d %s", reason, why)
	}
	if reason, why := d.Resume(context.Background(), fetch, b.topic); reason != report.ReasonConnectionLost || d.Next != 3 || !strings.Contains(why, "block 3 of 5") {
		t.Fatalf("dropped: %d %q, next %d", reason, why, d.Next)
	}
	if sink.Len() != 3*1024 {
		t.Fatalf("the sink holds %d bytes after the drop, want the 3 blocks verified", sink.Len())
	}
	fetched = nil
	if reason, why := d.Resume(context.Background(), fetch, b.topic); reason != report.ReasonReady {
		t.Fatalf("resumed: %d %s", reason, why)
	}
	// Only the blocks not verified before the drop were fetched again.
	if want := []string{".u/c/main@1.1.0/b/3", ".u/c/main@1.1.0/b/4"}; strings.Join(fetched, " ") != strings.Join(want, " ") {
		t.Errorf("fetched %v after the drop, want %v", fetched, want)
	}
	if !bytes.Equal(sink.Bytes(), img) || !d.Done() {
		t.Error("the blocks do not make the image")
	}
}

func TestBlockDownloadCorruptBlockIsReason5(t *testing.T) {
	img := image("1.1.0", 3000)
	c := &manifestFor(100, "1.1.0", img, release.ComponentURI("main", "1.1.0")).Components[0]
	b := cut(t, ".u/c/main@1.1.0", img, 1024)
	good := b.retained[".u/c/main@1.1.0/b/1"]
	b.retained[".u/c/main@1.1.0/b/1"] = append([]byte{good[0] ^ 1}, good[1:]...)
	fetch := fetchFrom(b.retained)
	var sink bufferSink
	d, _, _ := NewBlockDownload(b.x, c, &sink)
	if reason, why := d.Resume(context.Background(), fetch, b.topic); reason != report.ReasonIntegrityCheckFailed || !strings.Contains(why, "block 1") {
		t.Fatalf("corrupt block: %d %q", reason, why)
	}
	b.retained[".u/c/main@1.1.0/b/1"] = good
	if reason, why := d.Resume(context.Background(), fetch, b.topic); reason != report.ReasonReady {
		t.Fatalf("fixed: %d %s", reason, why)
	}
	if !bytes.Equal(sink.Bytes(), img) {
		t.Error("the corrupt block was left in the sink")
	}
	// An index for other bytes than the manifest's is refused at once.
	other := *c
	other.Hash = strings.Repeat("ab", 32)
	if d, reason, _ := NewBlockDownload(b.x, &other, &bufferSink{}); d != nil || reason != report.ReasonIntegrityCheckFailed {
		t.Errorf("index for other bytes: %v %d", d, reason)
	}
}

// publishBlocked retains img for main@version in blocks only, then a
// manifest for it on the fleet topic.
func (h *harness) publishBlocked(version string, img []byte, change func(b *blocked)) {
	h.t.Helper()
	ctx := context.Background()
	ct, _ := h.op.Topics().Component("main", version)
	b := cut(h.t, ct, img, max(upload.MinBlockSize, int64(len(img)/8)))
	if change != nil {
		change(b)
	}
	for topic, p := range b.retained {
		if err := h.op.PublishRetained(ctx, topic, p); err != nil {
			h.t.Fatal(err)
		}
	}
	h.publishManifest(h.op.Topics().Fleet(), manifestFor(100, version, img, release.ComponentURI("main", version)))
}

func TestDeviceUpdatesFromBlocks(t *testing.T) {
	h := start(t, Config{})
	id := h.fleet.Devices()[0].ID
	h.publishBlocked("1.1.0", image("1.1.0", 4500), nil)
	h.rec.waitFor(t, "updated from blocks", isReport(id, report.Updated, report.ReasonUpdated, "1.1.0"))
}

func TestDeviceReportsACorruptBlock(t *testing.T) {
	h := start(t, Config{Attempts: 1})
	h.publishBlocked("1.1.0", image("1.1.0", 4500), func(b *blocked) {
		bt := upload.BlockTopic(b.topic, 2)
		b.retained[bt] = bytes.Repeat([]byte{0x5a}, len(b.retained[bt]))
	})
	h.attemptFails(report.ReasonIntegrityCheckFailed, "block 2")
}

// attemptFails waits for the first device's first failed attempt and its
// report (1,reason): the attempt must have failed with reason, and its
// detail say detail.
func (h *harness) attemptFails(reason report.Reason, detail string) {
	h.t.Helper()
	e := h.rec.waitFor(h.t, "a failed attempt", func(e Event) bool { return e.Kind == EventFailed })
	if e.Reason != reason || !strings.Contains(e.Detail, detail) {
		h.t.Errorf("event %+v, want reason %d and %q", e, reason, detail)
	}
	id := h.fleet.Devices()[0].ID
	h.rec.waitFor(h.t, fmt.Sprintf("report (1,%d)", reason), isReport(id, report.Downloading, reason, "1.0.0"))
}

// An injected integrity failure flips a byte of a verified block on its
// way to flash: the whole image's check catches it (reason 5).
func TestDeviceInjectedIntegrityFailureWithBlocks(t *testing.T) {
	h := start(t, Config{Attempts: 1, Failures: map[string]float64{"integrity": 1}})
	h.publishBlocked("1.1.0", image("1.1.0", 4500), nil)
	h.attemptFails(report.ReasonIntegrityCheckFailed, "SHA-256")
}

// A block longer than the index says is refused for its length (reason 5):
// the device streams no more of it than the block's length to flash.
func TestDeviceRefusesAnOversizedBlock(t *testing.T) {
	h := start(t, Config{Attempts: 1})
	var long int
	h.publishBlocked("1.1.0", image("1.1.0", 4500), func(b *blocked) {
		bt := upload.BlockTopic(b.topic, 1)
		b.retained[bt] = append(bytes.Clone(b.retained[bt]), make([]byte, 64<<10)...)
		long = len(b.retained[bt])
	})
	h.attemptFails(report.ReasonIntegrityCheckFailed, fmt.Sprintf("block 1 is %d bytes", long))
}

// A device finds the index and the whole artifact both retained (a broker
// that takes the whole): it updates from either.
func TestDeviceUpdatesWhenBlocksAndTheWholeAreRetained(t *testing.T) {
	h := start(t, Config{})
	id := h.fleet.Devices()[0].ID
	img := image("1.1.0", 4500)
	h.publishBlocked("1.1.0", img, func(b *blocked) { b.retained[b.topic] = img })
	h.rec.waitFor(t, "updated", isReport(id, report.Updated, report.ReasonUpdated, "1.1.0"))
}

// A device keeps the blocks it verified: at its next attempt it fetches
// only the rest. Block 2 is missing at the first attempt; before the
// second, block 2 comes and block 0 is corrupted on the broker: a device
// that started over would fail on block 0.
func TestDeviceResumesBlocksAtItsNextAttempt(t *testing.T) {
	h := start(t, Config{DownloadTimeout: 200 * time.Millisecond, RetryPause: 500 * time.Millisecond})
	id := h.fleet.Devices()[0].ID
	img := image("1.1.0", 4500)
	var missing, first []byte
	var b0, b2 string
	h.publishBlocked("1.1.0", img, func(b *blocked) {
		b0, b2 = upload.BlockTopic(b.topic, 0), upload.BlockTopic(b.topic, 2)
		missing, first = b.retained[b2], b.retained[b0]
		delete(b.retained, b2)
	})
	h.rec.waitFor(t, "the first attempt failed", func(e Event) bool { return e.Kind == EventRetrying && e.Attempt == 1 })
	ctx := context.Background()
	if err := h.op.PublishRetained(ctx, b2, missing); err != nil {
		t.Fatal(err)
	}
	if err := h.op.PublishRetained(ctx, b0, bytes.Repeat([]byte{1}, len(first))); err != nil {
		t.Fatal(err)
	}
	h.rec.waitFor(t, "updated at the second attempt", isReport(id, report.Updated, report.ReasonUpdated, "1.1.0"))
	if got := strings.Join(h.reports(id), "|"); !strings.Contains(got, "(1,7) 1.0.0 1.1.0") {
		t.Errorf("reported %s: the first attempt did not fail on the missing block", got)
	}
}

// A connection cut in the middle of a download in blocks, and the broker
// out of reach for a while: the attempt fails (reason 4), and at its next
// attempt, on a new connection, the device fetches only the blocks it had
// not verified, so the bytes it receives add up to the image once, plus at
// most the block cut short.
func TestDeviceResumesBlocksAfterADroppedConnection(t *testing.T) {
	b := testbroker.Embedded(t, broker.Config{})
	proxy := tcpproxy.Start(t, b.Addr)
	h := startOn(t, b, Config{Conn: upload.Options{Broker: proxy.URL(), Timeout: time.Second}, Attempts: 10,
		DownloadTimeout: 200 * time.Millisecond, RetryPause: 100 * time.Millisecond})
	id := h.fleet.Devices()[0].ID
	const size, block = 128 << 10, 16 << 10
	before := proxy.Sent(false)
	// Cut when blocks 0 and 1 and half of block 2 have reached the
	// device, and refuse connections until its attempt has failed.
	fired := proxy.Arm(tcpproxy.Fault{After: 2*block + block/2, StayDown: true})
	h.publishBlocked("1.1.0", image("1.1.0", size), nil)
	select {
	case <-fired:
	case <-time.After(safety):
		t.Fatal("the connection was never cut")
	}
	// The light device reports the failure once it is connected again:
	// it tries to connect while the broker is out of reach.
	h.rec.waitFor(t, "a refused reconnect", func(e Event) bool { return e.Kind == EventError })
	proxy.SetDown(false)
	if e := h.rec.waitFor(t, "the attempt failed", func(e Event) bool { return e.Kind == EventFailed }); e.Reason != report.ReasonConnectionLost {
		t.Errorf("the attempt failed with reason %d, want 4 (connection lost): %s", e.Reason, e.Detail)
	}
	h.rec.waitFor(t, "updated after the cut", isReport(id, report.Updated, report.ReasonUpdated, "1.1.0"))
	// A device that started over would receive the 2.5 blocks before the
	// cut again.
	if got := proxy.Sent(false) - before; got > size+block+8<<10 {
		t.Errorf("the device received %d bytes for an image of %d: it did not resume\n%s", got, size, h.rec.dump())
	}
}

// A broker that refuses the subscription to a block (an access rule that
// lets devices read the index but not the blocks): the connection is fine
// and the block is not readable, so the attempt fails with reason 7
// (invalid uri), as for a refused artifact topic, not 4. (mosquitto
// grants such a subscription and delivers nothing: reason 7 too, once the
// wait for the block is over.)
func TestDeviceReportsARefusedBlockSubscriptionAsReason7(t *testing.T) {
	b := testbroker.Quirky(t, testbroker.Quirks{DenyRead: func(topic string) bool { return strings.Contains(topic, "/b/") }})
	h := startOn(t, b, Config{Attempts: 1})
	h.publishBlocked("1.1.0", image("1.1.0", 4500), nil)
	h.attemptFails(report.ReasonInvalidURI, "refused the subscription to .u/c/main@1.1.0/b/0")
}

// Devices downloading an artifact in blocks hold none of its blocks: each
// block streams through its SHA-256 to flash as it arrives. Ten devices
// download 1 MiB in blocks of 128 KiB from mosquitto (a broker out of
// this process); what the process allocates meanwhile, a device, stays
// below one block: about 50 KB (manifest, reports, the reconnect after the
// reboot), where a device that held its block allocated about 180 KB.
func TestDevicesDownloadingBlocksHoldNoBlock(t *testing.T) {
	const devices, size = 10, 1 << 20
	h := startOn(t, testbroker.Mosquitto(t, mosquitto.Config{}), Config{Devices: devices})
	img := image("1.1.0", size)
	ct, _ := h.op.Topics().Component("main", "1.1.0")
	b := cut(t, ct, img, size/8)
	for topic, p := range b.retained {
		if err := h.op.PublishRetained(context.Background(), topic, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range h.fleet.Devices() {
		h.rec.waitFor(t, "connected", isReport(d.ID, report.Idle, report.ReasonReady, "1.0.0"))
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	h.publishManifest(h.op.Topics().Fleet(), manifestFor(100, "1.1.0", img, release.ComponentURI("main", "1.1.0")))
	for _, d := range h.fleet.Devices() {
		h.rec.waitFor(t, "updated", isReport(d.ID, report.Updated, report.ReasonUpdated, "1.1.0"))
	}
	runtime.ReadMemStats(&after)
	perDevice := (after.TotalAlloc - before.TotalAlloc) / devices
	t.Logf("allocated %d bytes a device while downloading %d bytes in blocks of %d", perDevice, size, size/8)
	if perDevice > size/8 {
		t.Errorf("each device allocated %d bytes while downloading blocks of %d: it holds its block", perDevice, size/8)
	}
}
