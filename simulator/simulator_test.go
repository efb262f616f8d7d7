package simulator

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otactl/otactl/broker"
	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/keys"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// safety bounds every wait so that a broken simulator fails instead of
// hanging; no assertion depends on how long anything takes.
const safety = 90 * time.Second

// recorder keeps every event and lets a test wait for one.
type recorder struct {
	mu     sync.Mutex
	events []Event
	wake   chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// waitFor returns the first event, past or future, that match accepts.
func (r *recorder) waitFor(t *testing.T, what string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.After(safety)
	seen := 0
	for {
		r.mu.Lock()
		for ; seen < len(r.events); seen++ {
			if match(r.events[seen]) {
				e := r.events[seen]
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatalf("no event: %s; events:\n%s", what, r.dump())
		}
	}
}

func (r *recorder) all(device string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if device == "" || e.Device == device {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) dump() string {
	var b strings.Builder
	for _, e := range r.all("") {
		fmt.Fprintf(&b, "  %s %s (%d,%d) %s->%s seq=%d %s\n", e.Device, e.Kind, e.State, e.Reason, e.Version, e.Target, e.Sequence, e.Detail)
	}
	return b.String()
}

func isReport(device string, state report.State, reason report.Reason, version string) func(Event) bool {
	return func(e Event) bool {
		return e.Device == device && e.Kind == EventReport && e.State == state && e.Reason == reason && e.Version == version
	}
}

// harness is an embedded broker, an operator connection and a fleet.
type harness struct {
	t      *testing.T
	b      *testbroker.Broker
	op     *upload.Client
	fleet  *Fleet
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	return startOn(t, testbroker.Embedded(t, broker.Config{}), cfg)
}

// startOn is start on the broker b.
func startOn(t *testing.T, b *testbroker.Broker, cfg Config) *harness {
	t.Helper()
	op, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL, ClientID: "operator", TopicPrefix: cfg.Conn.TopicPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	h := &harness{t: t, b: b, op: op, rec: newRecorder(), done: make(chan error, 1)}
	if cfg.Conn.Broker == "" {
		cfg.Conn.Broker = b.URL
	}
	if cfg.Package == "" {
		cfg.Package = "main"
	}
	if cfg.Version == "" {
		cfg.Version = "1.0.0"
	}
	if cfg.IDPrefix == "" && len(cfg.IDs) == 0 {
		cfg.IDPrefix = "sim-"
	}
	if cfg.Devices == 0 {
		cfg.Devices = 1
	}
	if cfg.Reboot == 0 {
		cfg.Reboot = 10 * time.Millisecond
	}
	if cfg.RetryPause == 0 {
		cfg.RetryPause = 10 * time.Millisecond
	}
	cfg.OnEvent = h.rec.add
	h.fleet, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.fleet.Run(ctx) }()
	t.Cleanup(h.stop)
	select {
	case <-h.fleet.Ready():
	case err := <-h.done:
		t.Fatalf("fleet stopped: %v", err)
	case <-time.After(safety):
		t.Fatal("fleet not ready")
	}
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(safety):
		h.t.Error("fleet did not stop")
	}
}

// image is a firmware image of n bytes whose content depends on version.
func image(version string, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ version[len(version)-1]
	}
	return b
}

// manifestFor is a sealed manifest of sequence seq for img as main at
// version, with the given uri.
func manifestFor(seq int64, version string, img []byte, uri string) *release.Manifest {
	sum := sha256.Sum256(img)
	m := &release.Manifest{SequenceNumber: seq, Components: []release.Component{{
		Package: "main", Version: version, Hash: hex.EncodeToString(sum[:]), Size: int64(len(img)), URI: uri,
	}}}
	m.Seal()
	return m
}

type manifestOpts struct {
	seq     int64
	version string
	expires time.Time
	signers []crypto.Signer
	// corrupt changes the component hash after sealing (then re-seals):
	// the manifest is consistent but names the wrong bytes.
	wrongHash bool
	// tamper changes the manifest after sealing without re-sealing.
	tamper bool
}

// publishRelease publishes a component of 4 KiB and a manifest for it on
// topic, and returns the manifest.
func (h *harness) publishRelease(topic string, o manifestOpts) *release.Manifest {
	h.t.Helper()
	ctx := context.Background()
	img := image(o.version, 4096)
	sum := sha256.Sum256(img)
	m := &release.Manifest{SequenceNumber: o.seq, Components: []release.Component{{
		Package: "main", Version: o.version, Hash: hex.EncodeToString(sum[:]), Size: int64(len(img)),
		URI: release.ComponentURI("main", o.version), Type: "mcuboot",
	}}}
	if o.wrongHash {
		m.Components[0].Hash = strings.Repeat("ab", 32)
	}
	if !o.expires.IsZero() {
		m.Expires = o.expires.UTC().Format(time.RFC3339)
	}
	m.Seal()
	for _, s := range o.signers {
		if err := m.Sign(s); err != nil {
			h.t.Fatal(err)
		}
	}
	if o.tamper {
		m.Components[0].Size++
	}
	ct, err := h.op.Topics().Component("main", o.version)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.op.PublishRetained(ctx, ct, img); err != nil {
		h.t.Fatal(err)
	}
	h.publishManifest(topic, m)
	return m
}

// publishManifest publishes m in JSON on topic, retained.
func (h *harness) publishManifest(topic string, m *release.Manifest) {
	h.t.Helper()
	payload, err := release.EncodeJSON(m)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.op.PublishRetained(context.Background(), topic, payload); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) deviceTopic(id string) string {
	t, err := h.op.Topics().Device(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return t
}

// retainedReport reads and decodes the report a device left on the broker.
func (h *harness) retainedReport(id string) (report.Report, []byte) {
	h.t.Helper()
	topic, _ := h.op.Topics().Report(id, "main")
	b, ok, err := h.op.ReadRetained(context.Background(), topic)
	if err != nil || !ok {
		h.t.Fatalf("read report of %s: found=%v err=%v", id, ok, err)
	}
	r, err := report.Decode(b)
	if err != nil {
		h.t.Fatalf("decode report of %s (%x): %v", id, b, err)
	}
	return r, b
}

func TestUpdateAllVariants(t *testing.T) {
	h := start(t, Config{Devices: 4, Encoding: "mixed", KeyNames: "mixed"})
	h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 100, version: "1.1.0"})
	payloads := map[string]bool{}
	for _, d := range h.fleet.Devices() {
		// The device's reports, in order, are those of a real device.
		h.rec.waitFor(t, d.ID+" idle on 1.1.0", isReport(d.ID, report.Idle, report.ReasonReady, "1.1.0"))
		var got []string
		for _, e := range h.rec.all(d.ID) {
			if e.Kind == EventReport {
				got = append(got, fmt.Sprintf("(%d,%d) %s %s", e.State, e.Reason, e.Version, e.Target))
			}
		}
		want := []string{"(0,0) 1.0.0 ", "(1,0) 1.0.0 1.1.0", "(2,0) 1.0.0 1.1.0", "(3,0) 1.0.0 1.1.0", "(3,1) 1.1.0 ", "(0,0) 1.1.0 "}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s reported\n  %s\nwant\n  %s", d.ID, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		r, raw := h.retainedReport(d.ID)
		if r.State != report.Idle || r.Version != "1.1.0" || r.Package != "main" {
			t.Errorf("%s retained report %+v", d.ID, r)
		}
		payloads[fmt.Sprintf("%c/%v", raw[0], strings.Contains(string(raw), "pkg"))] = true
		if d.Version() != "1.1.0" {
			t.Errorf("%s runs %s", d.ID, d.Version())
		}
	}
	// JSON long, CBOR long, JSON short, CBOR short.
	if len(payloads) != 4 {
		t.Errorf("report variants seen: %v, want 4", payloads)
	}
	// The fleet manifest is delivered again after each reboot: it was
	// ignored as already handled, never applied twice.
	for _, d := range h.fleet.Devices() {
		n := 0
		for _, e := range h.rec.all(d.ID) {
			if e.Kind == EventReboot {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s rebooted %d times", d.ID, n)
		}
	}
}

func TestInjectedFailures(t *testing.T) {
	for kind, want := range map[string][2]int{
		"flash":      {1, 2},
		"ram":        {1, 3},
		"connection": {1, 4},
		"integrity":  {1, 5},
		"type":       {1, 6},
		"uri":        {1, 7},
		"update":     {0, 8},
		"io":         {1, 10},
	} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			h := start(t, Config{Failures: Failures{kind: 1}})
			id := h.fleet.Devices()[0].ID
			h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 100, version: "1.1.0"})
			state, reason := report.State(want[0]), report.Reason(want[1])
			e := h.rec.waitFor(t, fmt.Sprintf("report (%d,%d)", state, reason), isReport(id, state, reason, "1.0.0"))
			if e.Target != "1.1.0" {
				t.Errorf("failure report target %q", e.Target)
			}
			// Every attempt fails; after the last the failure stays.
			h.rec.waitFor(t, "the last failed event", func(e Event) bool {
				return e.Kind == EventFailed && e.Reason == reason && (e.Attempt == DefaultAttempts || kind == "update")
			})
			r, _ := h.retainedReport(id)
			if r.State != state || r.Reason != reason || r.Version != "1.0.0" || r.Target != "1.1.0" || !r.Failed() {
				t.Errorf("retained report %+v, want (%d,%d) on 1.0.0 -> 1.1.0", r, state, reason)
			}
			if v := h.fleet.Devices()[0].Version(); v != "1.0.0" {
				t.Errorf("device runs %s after a failed update", v)
			}
			if p := h.fleet.Devices()[0].Phase(); p != PhaseFailed {
				t.Errorf("phase %s", p)
			}
		})
	}
}

// reports lists a device's reports as "(state,reason) version target".
func (h *harness) reports(id string) []string {
	var got []string
	for _, e := range h.rec.all(id) {
		if e.Kind == EventReport {
			got = append(got, fmt.Sprintf("(%d,%d) %s %s", e.State, e.Reason, e.Version, e.Target))
		}
	}
	return got
}

// After a failed attempt a device reports as the Golioth SDK does (the
// failure, idle, then idle awaiting retry, all naming the target) and
// tries again after a pause that doubles, at most three attempts in all;
// after the last the failure stays its last report.
func TestRetryAfterFailedAttempt(t *testing.T) {
	h := start(t, Config{Failures: Failures{"integrity": 1}})
	d := h.fleet.Devices()[0]
	h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 100, version: "1.1.0"})
	h.rec.waitFor(t, "the last attempt failed", func(e Event) bool { return e.Kind == EventFailed && e.Attempt == 3 })
	attempt := []string{"(1,0) 1.0.0 1.1.0", "(1,5) 1.0.0 1.1.0"}
	retry := []string{"(0,0) 1.0.0 1.1.0", "(0,11) 1.0.0 1.1.0"}
	want := slices.Concat([]string{"(0,0) 1.0.0 "}, attempt, retry, attempt, retry, attempt)
	// Nothing more comes: the device gave up on this release.
	time.Sleep(100 * time.Millisecond)
	if got := h.reports(d.ID); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("reported\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	var pauses []string
	for _, e := range h.rec.all(d.ID) {
		if e.Kind == EventRetrying {
			pauses = append(pauses, fmt.Sprintf("%d %s", e.Attempt, e.Detail))
		}
	}
	if want := []string{"1 trying again in 10ms", "2 trying again in 20ms"}; !slices.Equal(pauses, want) {
		t.Errorf("retrying events %q, want %q", pauses, want)
	}
	if r, _ := h.retainedReport(d.ID); r.State != report.Downloading || r.Reason != report.ReasonIntegrityCheckFailed || r.Target != "1.1.0" {
		t.Errorf("retained report %+v, want the last failure", r)
	}
	if d.Phase() != PhaseFailed || d.Version() != "1.0.0" {
		t.Errorf("phase %s on %s", d.Phase(), d.Version())
	}
}

// A retry can succeed: the component that was missing at the first
// attempt is there at the second.
func TestRetrySucceeds(t *testing.T) {
	h := start(t, Config{DownloadTimeout: 100 * time.Millisecond, RetryPause: 300 * time.Millisecond})
	d := h.fleet.Devices()[0]
	img := image("1.1.0", 4096)
	payload, _ := release.EncodeJSON(manifestFor(100, "1.1.0", img, release.ComponentURI("main", "1.1.0")))
	ctx := context.Background()
	if err := h.op.PublishRetained(ctx, h.op.Topics().Fleet(), payload); err != nil {
		t.Fatal(err)
	}
	h.rec.waitFor(t, "the first attempt failed", func(e Event) bool { return e.Kind == EventRetrying && e.Attempt == 1 })
	if d.Phase() != PhaseRetrying {
		t.Errorf("phase %s while waiting to retry", d.Phase())
	}
	ct, _ := h.op.Topics().Component("main", "1.1.0")
	if err := h.op.PublishRetained(ctx, ct, img); err != nil {
		t.Fatal(err)
	}
	h.rec.waitFor(t, "updated at the second attempt", isReport(d.ID, report.Updated, report.ReasonUpdated, "1.1.0"))
	got := h.reports(d.ID)
	want := []string{"(0,0) 1.0.0 ", "(1,0) 1.0.0 1.1.0", "(1,7) 1.0.0 1.1.0", "(0,0) 1.0.0 1.1.0", "(0,11) 1.0.0 1.1.0",
		"(1,0) 1.0.0 1.1.0", "(2,0) 1.0.0 1.1.0", "(3,0) 1.0.0 1.1.0", "(3,1) 1.1.0 "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("reported\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// A newer release that arrives while a device waits to retry is taken
// instead of the retry.
func TestRetryGivesWayToANewerRelease(t *testing.T) {
	h := start(t, Config{RetryPause: time.Second})
	d := h.fleet.Devices()[0]
	h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 100, version: "1.1.0", wrongHash: true})
	h.rec.waitFor(t, "the first attempt failed", func(e Event) bool { return e.Kind == EventRetrying })
	h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 200, version: "1.2.0"})
	h.rec.waitFor(t, "updated to the newer release", isReport(d.ID, report.Updated, report.ReasonUpdated, "1.2.0"))
	for _, e := range h.rec.all(d.ID) {
		if e.Kind == EventFailed && e.Attempt > 1 {
			t.Errorf("retried 1.1.0 after 1.2.0 came: %+v", e)
		}
	}
}

// Under a topic prefix a component's uri stays relative to it
// (/.u/c/main@1.1.0): the device downloads from the prefix and the uri
// (acme/.u/c/main@1.1.0), never from the uri alone. A manifest whose uri
// holds the prefix itself is invalid: refused and reported (0,8).
func TestURIUnderATopicPrefix(t *testing.T) {
	h := start(t, Config{Conn: upload.Options{TopicPrefix: "acme/"}})
	d := h.fleet.Devices()[0]
	// Other bytes where the uri alone would point.
	bare, err := upload.Connect(context.Background(), upload.Options{Broker: h.b.URL, ClientID: "bare"})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	if err := bare.PublishRetained(context.Background(), ".u/c/main@1.1.0", []byte("not the image")); err != nil {
		t.Fatal(err)
	}
	m := h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 100, version: "1.1.0"})
	if m.Components[0].URI != "/.u/c/main@1.1.0" || h.op.Topics().Fleet() != "acme/.u/desired" {
		t.Fatalf("uri %s, fleet topic %s", m.Components[0].URI, h.op.Topics().Fleet())
	}
	h.rec.waitFor(t, "updated from acme/.u/c/main@1.1.0", isReport(d.ID, report.Updated, report.ReasonUpdated, "1.1.0"))

	// A manifest made with the prefix in its uri.
	img := image("1.2.0", 1000)
	payload, _ := release.EncodeJSON(manifestFor(200, "1.2.0", img, "/acme/.u/c/main@1.2.0"))
	ct, _ := h.op.Topics().Component("main", "1.2.0")
	for topic, p := range map[string][]byte{ct: img, h.op.Topics().Fleet(): payload} {
		if err := h.op.PublishRetained(context.Background(), topic, p); err != nil {
			t.Fatal(err)
		}
	}
	e := h.rec.waitFor(t, "the manifest refused", func(e Event) bool { return e.Kind == EventRefused })
	if e.Target != "1.2.0" || !strings.Contains(e.Detail, `holds the topic prefix "acme/"`) {
		t.Errorf("refused: %+v", e)
	}
	h.rec.waitFor(t, "reported (0,8)", isReport(d.ID, report.Idle, report.ReasonUpdateFailed, "1.1.0"))
}

func TestNoInjectionWithZeroProbability(t *testing.T) {
	h := start(t, Config{Devices: 3, Failures: Failures{"integrity": 0, "update": 0}})
	h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 100, version: "1.1.0"})
	for _, d := range h.fleet.Devices() {
		h.rec.waitFor(t, d.ID+" updated", isReport(d.ID, report.Updated, report.ReasonUpdated, "1.1.0"))
	}
}

func TestRealIntegrityFailure(t *testing.T) {
	// Not injected: the manifest names a hash the published bytes do not have.
	h := start(t, Config{})
	id := h.fleet.Devices()[0].ID
	h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 100, version: "1.1.0", wrongHash: true})
	e := h.rec.waitFor(t, "integrity failure", func(e Event) bool { return e.Kind == EventFailed })
	if e.Reason != report.ReasonIntegrityCheckFailed || !strings.Contains(e.Detail, "SHA-256") {
		t.Errorf("event %+v", e)
	}
	h.rec.waitFor(t, "report (1,5)", isReport(id, report.Downloading, report.ReasonIntegrityCheckFailed, "1.0.0"))
}

func TestMissingComponent(t *testing.T) {
	h := start(t, Config{DownloadTimeout: 200 * time.Millisecond})
	id := h.fleet.Devices()[0].ID
	m := &release.Manifest{SequenceNumber: 100, Components: []release.Component{{
		Package: "main", Version: "9.9.9", Hash: strings.Repeat("0", 64), Size: 10, URI: release.ComponentURI("main", "9.9.9"),
	}}}
	m.Seal()
	h.publishManifest(h.op.Topics().Fleet(), m)
	h.rec.waitFor(t, "report (1,7)", isReport(id, report.Downloading, report.ReasonInvalidURI, "1.0.0"))
}

func signer(t *testing.T, alg string) (crypto.Signer, crypto.PublicKey) {
	t.Helper()
	k, err := keys.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k, k.Public()
}

func TestSignatures(t *testing.T) {
	trusted, pub := signer(t, "ed25519")
	other, _ := signer(t, "ecdsa-p256")
	h := start(t, Config{Devices: 1, Keys: []crypto.PublicKey{pub}})
	d := h.fleet.Devices()[0]
	topic := h.deviceTopic(d.ID)

	cases := []struct {
		name string
		o    manifestOpts
	}{
		{"unsigned", manifestOpts{seq: 100, version: "1.1.0"}},
		{"signed by an untrusted key", manifestOpts{seq: 101, version: "1.1.1", signers: []crypto.Signer{other}}},
		{"changed after signing", manifestOpts{seq: 102, version: "1.1.2", signers: []crypto.Signer{trusted}, tamper: true}},
	}
	for _, c := range cases {
		h.publishRelease(topic, c.o)
		e := h.rec.waitFor(t, c.name+" refused", func(e Event) bool { return e.Kind == EventRefused && e.Sequence == c.o.seq })
		if e.Target != c.o.version || e.Reason != report.ReasonUpdateFailed {
			t.Errorf("%s: refusal %+v", c.name, e)
		}
		h.rec.waitFor(t, c.name+" reported", func(e Event) bool {
			return e.Kind == EventReport && e.State == report.Idle && e.Reason == report.ReasonUpdateFailed && e.Target == c.o.version
		})
	}
	// A properly signed release is taken; none of the refused ones was
	// downloaded.
	h.publishRelease(topic, manifestOpts{seq: 103, version: "1.2.0", signers: []crypto.Signer{other, trusted}})
	h.rec.waitFor(t, "updated to 1.2.0", isReport(d.ID, report.Updated, report.ReasonUpdated, "1.2.0"))
	for _, e := range h.rec.all(d.ID) {
		if e.Kind == EventReport && e.State == report.Downloading && e.Target != "1.2.0" {
			t.Errorf("downloaded a refused release: %+v", e)
		}
	}
	// A reconnect delivers the refused manifests again; they are not
	// reported a second time.
	refusals := 0
	for _, e := range h.rec.all(d.ID) {
		if e.Kind == EventRefused {
			refusals++
		}
	}
	if refusals != len(cases) {
		t.Errorf("%d refusals, want %d:\n%s", refusals, len(cases), h.rec.dump())
	}
}

func TestExpiredIgnored(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	h := start(t, Config{Now: func() time.Time { return now }})
	d := h.fleet.Devices()[0]
	h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 100, version: "1.1.0", expires: now.Add(-time.Second)})
	h.rec.waitFor(t, "expired ignored", func(e Event) bool {
		return e.Kind == EventIgnored && e.Sequence == 100 && strings.Contains(e.Detail, "expired")
	})
	// A release that expires later is taken, over the device topic.
	h.publishRelease(h.deviceTopic(d.ID), manifestOpts{seq: 90, version: "1.2.0", expires: now.Add(time.Hour)})
	h.rec.waitFor(t, "updated to 1.2.0", isReport(d.ID, report.Updated, report.ReasonUpdated, "1.2.0"))
	for _, e := range h.rec.all(d.ID) {
		if e.Kind == EventReport && e.Target == "1.1.0" {
			t.Errorf("acted on the expired release: %+v", e)
		}
	}
}

func TestReplayIgnored(t *testing.T) {
	h := start(t, Config{})
	d := h.fleet.Devices()[0]
	topic := h.deviceTopic(d.ID)
	h.publishRelease(topic, manifestOpts{seq: 200, version: "1.1.0"})
	h.rec.waitFor(t, "idle on 1.1.0", isReport(d.ID, report.Idle, report.ReasonReady, "1.1.0"))

	// An older manifest, valid in itself, published again (a replay, or an
	// operator's mistake): the device must not go back.
	h.publishRelease(topic, manifestOpts{seq: 150, version: "1.0.5"})
	h.rec.waitFor(t, "replay ignored", func(e Event) bool {
		return e.Kind == EventIgnored && e.Sequence == 150 && strings.Contains(e.Detail, "not above 200")
	})
	// The same sequence number again, with a different version: ignored too.
	h.publishRelease(topic, manifestOpts{seq: 200, version: "1.0.6"})
	h.rec.waitFor(t, "same sequence ignored", func(e Event) bool {
		return e.Kind == EventIgnored && e.Sequence == 200 && strings.Contains(e.Detail, "not above 200")
	})
	// A rollback is a new release with the old version.
	h.publishRelease(topic, manifestOpts{seq: 300, version: "1.0.0"})
	h.rec.waitFor(t, "rolled back", isReport(d.ID, report.Updated, report.ReasonUpdated, "1.0.0"))
	for _, e := range h.rec.all(d.ID) {
		if e.Kind == EventReport && (e.Target == "1.0.5" || e.Target == "1.0.6") {
			t.Errorf("acted on a replayed release: %+v", e)
		}
	}
}

func TestHighestSequenceWins(t *testing.T) {
	h := start(t, Config{Devices: 2, Cohort: "canary"})
	ids := []string{h.fleet.Devices()[0].ID, h.fleet.Devices()[1].ID}
	cohort, _ := h.op.Topics().Cohort("canary")
	h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 100, version: "1.1.0"})
	for _, id := range ids {
		h.rec.waitFor(t, id+" on 1.1.0", isReport(id, report.Idle, report.ReasonReady, "1.1.0"))
	}
	h.publishRelease(cohort, manifestOpts{seq: 200, version: "1.2.0"})
	for _, id := range ids {
		h.rec.waitFor(t, id+" on 1.2.0", isReport(id, report.Idle, report.ReasonReady, "1.2.0"))
	}
	// The device topic's older release does not pull one device back.
	h.publishRelease(h.deviceTopic(ids[0]), manifestOpts{seq: 150, version: "1.1.5"})
	h.rec.waitFor(t, "older device release ignored", func(e Event) bool {
		return e.Device == ids[0] && e.Kind == EventIgnored && e.Sequence == 150
	})
	// The fleet release, delivered again after the reboot, stays handled.
	h.rec.waitFor(t, "fleet manifest ignored after reboot", func(e Event) bool {
		return e.Device == ids[1] && e.Kind == EventIgnored && e.Sequence == 100
	})
}

func TestOtherPackageAndSameVersion(t *testing.T) {
	h := start(t, Config{})
	d := h.fleet.Devices()[0]
	h.publishRelease(h.deviceTopic(d.ID), manifestOpts{seq: 100, version: "1.0.0"})
	h.rec.waitFor(t, "same version", func(e Event) bool {
		return e.Kind == EventIgnored && strings.Contains(e.Detail, "already running 1.0.0")
	})
	m := &release.Manifest{SequenceNumber: 200, Components: []release.Component{{
		Package: "modem", Version: "4.1.0", Hash: strings.Repeat("1", 64), Size: 10, URI: release.ComponentURI("modem", "4.1.0"),
	}}}
	m.Seal()
	h.publishManifest(h.op.Topics().Fleet(), m)
	h.rec.waitFor(t, "other package", func(e Event) bool {
		return e.Kind == EventIgnored && strings.Contains(e.Detail, "no component for package main")
	})
}

func TestCBORManifestAndGarbage(t *testing.T) {
	h := start(t, Config{})
	d := h.fleet.Devices()[0]
	if err := h.op.PublishRetained(context.Background(), h.deviceTopic(d.ID), []byte("not a manifest")); err != nil {
		t.Fatal(err)
	}
	h.rec.waitFor(t, "garbage ignored", func(e Event) bool {
		return e.Kind == EventIgnored && strings.Contains(e.Detail, "unreadable")
	})
	img := image("2.0.0", 1000)
	cb, err := release.EncodeCBOR(manifestFor(100, "2.0.0", img, release.ComponentURI("main", "2.0.0")))
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := h.op.Topics().Component("main", "2.0.0")
	if err := h.op.PublishRetained(context.Background(), ct, img); err != nil {
		t.Fatal(err)
	}
	if err := h.op.PublishRetained(context.Background(), h.op.Topics().Fleet(), cb); err != nil {
		t.Fatal(err)
	}
	h.rec.waitFor(t, "updated from a CBOR manifest", isReport(d.ID, report.Updated, report.ReasonUpdated, "2.0.0"))
}

// The empty manifest ({} or CBOR a0, what release unpublish publishes)
// is "no release": a device does nothing with it and logs no format
// error, and acts on the next release as usual.
func TestEmptyManifestIsNoRelease(t *testing.T) {
	h := start(t, Config{})
	d := h.fleet.Devices()[0]
	ctx := context.Background()
	for topic, empty := range map[string][]byte{h.op.Topics().Fleet(): []byte("{}"), h.deviceTopic(d.ID): {0xa0}} {
		if err := h.op.PublishRetained(ctx, topic, empty); err != nil {
			t.Fatal(err)
		}
	}
	h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 100, version: "1.1.0"})
	h.rec.waitFor(t, "updated after the empty manifests", isReport(d.ID, report.Updated, report.ReasonUpdated, "1.1.0"))
	if err := h.op.PublishRetained(ctx, h.op.Topics().Fleet(), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	// A marker after the empty manifest: once the device has handled it,
	// it has handled the empty manifest before.
	if err := h.op.PublishRetained(ctx, h.deviceTopic(d.ID), []byte("marker")); err != nil {
		t.Fatal(err)
	}
	h.rec.waitFor(t, "the marker", func(e Event) bool { return e.Kind == EventIgnored && strings.Contains(e.Detail, "unreadable") })
	// Besides the marker, only the release redelivered after the reboot
	// is ignored (already handled).
	var odd []string
	for _, e := range h.rec.all(d.ID) {
		if e.Kind == EventIgnored && strings.Contains(e.Detail, "is not above") {
			continue
		}
		if e.Kind == EventIgnored || e.Kind == EventRefused || e.Kind == EventFailed {
			odd = append(odd, e.Detail)
		}
	}
	if len(odd) != 1 || !strings.Contains(odd[0], "unreadable") {
		t.Errorf("ignored, refused or failed: %q, want only the marker's\n%s", odd, h.rec.dump())
	}
	if d.Version() != "1.1.0" {
		t.Errorf("device runs %s", d.Version())
	}
}

func TestParseFailures(t *testing.T) {
	f, err := ParseFailures("integrity=5%, flash=1%,update=0.5,io=100%")
	if err != nil {
		t.Fatal(err)
	}
	if f["integrity"] != 0.05 || f["flash"] != 0.01 || f["update"] != 0.5 || f["io"] != 1 {
		t.Errorf("parsed %v", f)
	}
	if s := f.String(); s != "flash=1%,integrity=5%,io=100%,update=50%" {
		t.Errorf("String() = %q", s)
	}
	for _, bad := range []string{"integrity", "disk=5%", "integrity=101%", "integrity=-1%", "integrity=x", "ram=1%,ram=2%", "flash=2"} {
		if _, err := ParseFailures(bad); err == nil {
			t.Errorf("ParseFailures(%q) accepted", bad)
		}
	}
	if f, err := ParseFailures(""); err != nil || len(f) != 0 {
		t.Errorf("empty: %v %v", f, err)
	}
}

func TestDeviceIDs(t *testing.T) {
	ids, err := DeviceIDs("sim-", 3)
	if err != nil || strings.Join(ids, ",") != "sim-0001,sim-0002,sim-0003" {
		t.Errorf("DeviceIDs = %v, %v", ids, err)
	}
	ids, _ = DeviceIDs("d", 12345)
	if ids[0] != "d00001" || ids[12344] != "d12345" {
		t.Errorf("wide ids %s %s", ids[0], ids[12344])
	}
	if _, err := DeviceIDs("a/", 1); err == nil {
		t.Error("prefix with / accepted")
	}
}

func TestConnectError(t *testing.T) {
	f, err := New(Config{Devices: 1, IDPrefix: "x", Package: "main", Version: "1.0.0",
		Conn: upload.Options{Broker: "mqtt://127.0.0.1:1", Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Run(context.Background()); err == nil {
		t.Fatal("Run with an unreachable broker returned nil")
	}
}

func TestDeviceAuthAgainstBrokerACL(t *testing.T) {
	hash, err := broker.HashPassword([]byte("pw"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	users, err := broker.ParseUsers(strings.NewReader(
		broker.FormatUser("ops", broker.RoleOperator, "", hash) + "\n" +
			broker.FormatUser("sim-0001", broker.RoleDevice, "canary", hash) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := testbroker.Embedded(t, broker.Config{Users: users})
	op, err := upload.Connect(context.Background(), upload.Options{Broker: b.URL, Username: "ops", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	rec := newRecorder()
	// The device follows a key set: it may read P.u/keys.
	root, rootPub := signer(t, "ed25519")
	rel, relPub := signer(t, "ecdsa-p256")
	f, err := New(Config{Devices: 1, IDPrefix: "sim-", Cohort: "canary", Package: "main", Version: "1.0.0",
		Reboot: 10 * time.Millisecond, OnEvent: rec.add, Conn: upload.Options{Broker: b.URL, Password: "pw"},
		Roots: []crypto.PublicKey{rootPub}})
	if err != nil {
		t.Fatal(err)
	}
	defer runFleet(t, f, false)()
	h := &harness{t: t, op: op}
	cohort, _ := op.Topics().Cohort("canary")
	h.publishKeySet(1, []crypto.PublicKey{relPub}, []crypto.PublicKey{rootPub}, root)
	h.publishRelease(cohort, manifestOpts{seq: 5, version: "1.1.0", signers: []crypto.Signer{rel}})
	rec.waitFor(t, "updated through an authenticated broker", isReport("sim-0001", report.Idle, report.ReasonReady, "1.1.0"))

	// A device id missing from the users file cannot connect.
	f2, _ := New(Config{Devices: 2, IDPrefix: "sim-", Package: "main", Version: "1.0.0", IDs: []string{"sim-0002"},
		Conn: upload.Options{Broker: b.URL, Password: "pw", Timeout: 5 * time.Second}})
	if err := f2.Run(context.Background()); err == nil {
		t.Error("an unknown device connected")
	}
}

func TestRandomSeedReproducible(t *testing.T) {
	// The same seed gives each device the same sequence of dice.
	cfg := Config{Seed: 42, Failures: Failures{"integrity": 0.5}}
	a := newDevice(&cfg, protocol.Topics{}, "a", 3)
	b := newDevice(&cfg, protocol.Topics{}, "a", 3)
	c := newDevice(&cfg, protocol.Topics{}, "a", 4)
	var sa, sb, sc []bool
	for range 64 {
		sa = append(sa, a.inject("integrity"))
		sb = append(sb, b.inject("integrity"))
		sc = append(sc, c.inject("integrity"))
	}
	if fmt.Sprint(sa) != fmt.Sprint(sb) {
		t.Error("same seed and index, different dice")
	}
	if fmt.Sprint(sa) == fmt.Sprint(sc) {
		t.Error("different devices share their dice")
	}
}

// An unsigned copy of a release, refused, must not shadow the signed copy
// of the same release (same sequence number and digest) on another topic.
func TestSignedCopyAfterUnsignedCopy(t *testing.T) {
	trusted, pub := signer(t, "ed25519")
	h := start(t, Config{Keys: []crypto.PublicKey{pub}})
	d := h.fleet.Devices()[0]
	h.publishRelease(h.deviceTopic(d.ID), manifestOpts{seq: 100, version: "1.1.0"})
	h.rec.waitFor(t, "unsigned copy refused", func(e Event) bool { return e.Kind == EventRefused && e.Sequence == 100 })
	h.publishRelease(h.op.Topics().Fleet(), manifestOpts{seq: 100, version: "1.1.0", signers: []crypto.Signer{trusted}})
	h.rec.waitFor(t, "signed copy taken", isReport(d.ID, report.Updated, report.ReasonUpdated, "1.1.0"))
}

// FuzzDesiredPayload feeds arbitrary bytes to a device as the payload of a
// desired topic: it must decide without panicking, never act on a manifest
// that does not verify, and never act twice on one sequence number.
func FuzzDesiredPayload(f *testing.F) {
	img := image("1.1.0", 100)
	sum := sha256.Sum256(img)
	m := &release.Manifest{SequenceNumber: 5, Components: []release.Component{{
		Package: "main", Version: "1.1.0", Hash: hex.EncodeToString(sum[:]), Size: 100, URI: release.ComponentURI("main", "1.1.0"),
	}}}
	m.Seal()
	js, _ := release.EncodeJSON(m)
	cb, _ := release.EncodeCBOR(m)
	for _, seed := range [][]byte{js, cb, []byte("{}"), []byte("{"), {}, {0xa0}, []byte(`{"sequenceNumber":1,"components":[]}`)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		cfg := Config{Package: "main", Version: "1.0.0"}
		d := newDevice(&cfg, protocol.Topics{}, "d1", 0)
		d.manifests = map[string]held{}
		d.ignored = map[string]bool{}
		// A cancelled context: a refusal report is not sent anywhere.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		d.take(upload.Message{Topic: ".u/desired", Payload: payload})
		got, c := d.choose(ctx)
		if got == nil {
			return
		}
		if v := release.Verify(ctx, got, release.VerifyOptions{}); !v.OK {
			t.Fatalf("chose a manifest that does not verify: %v", v.Err())
		}
		if c == nil || c.Package != "main" || c.Version == "1.0.0" {
			t.Fatalf("chose component %+v", c)
		}
		d.markHandled(got.SequenceNumber)
		if again, _ := d.choose(ctx); again != nil {
			t.Fatal("chose the same manifest twice")
		}
	})
}
