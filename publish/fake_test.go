package publish

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/otactl/otactl/keyset"
	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
	"github.com/otactl/otactl/upload"
)

// fakeBroker is an in-memory broker: retained messages by topic, and the
// watches open on them. It keeps the semantics the core relies on (a put
// of the same bytes sends nothing, different bytes conflict, every
// message reaches every open watch of its topic) without a network.
type fakeBroker struct {
	t        *testing.T
	topics   protocol.Topics
	retained map[string][]byte
	watches  []*fakeWatch
	// sent lists, in order, every topic bytes were sent to.
	sent []string
	// fail makes PublishVerified, Clear and watch publishes to a topic
	// fail; readFail makes ReadRetained of a topic fail.
	fail, readFail map[string]error
	// settleErr makes every Settle fail.
	settleErr error
}

func newFakeBroker(t *testing.T) *fakeBroker {
	t.Helper()
	topics, err := protocol.NewTopics("")
	if err != nil {
		t.Fatal(err)
	}
	return &fakeBroker{t: t, topics: topics, retained: map[string][]byte{}, fail: map[string]error{}, readFail: map[string]error{}}
}

func (b *fakeBroker) Topics() protocol.Topics { return b.topics }

// deliver makes topic retain payload (nothing, when empty) and shows it
// to every open watch, as a live message.
func (b *fakeBroker) deliver(topic string, payload []byte) {
	if len(payload) == 0 {
		delete(b.retained, topic)
	} else {
		b.retained[topic] = append([]byte{}, payload...)
	}
	for _, w := range b.watches {
		if _, ok := w.initial[topic]; ok && !w.closed {
			w.log[topic] = append(w.log[topic], upload.Seen{Payload: payload, Rank: w.o.Rank(payload)})
		}
	}
}

func (b *fakeBroker) PutFile(_ context.Context, req upload.PutRequest) (upload.PutResult, error) {
	data, err := io.ReadAll(io.NewSectionReader(req.File, 0, req.Size))
	if err != nil {
		return upload.PutResult{}, err
	}
	sum := sha256.Sum256(data)
	if req.SHA256 != nil && sum != *req.SHA256 {
		return upload.PutResult{}, fmt.Errorf("publish %s: %w", req.Topic, upload.ErrArtifactChanged)
	}
	old, found := b.retained[req.Topic]
	action, would := upload.ActionUploaded, upload.ActionWouldUpload
	switch {
	case found && bytes.Equal(old, data):
		return upload.PutResult{Action: upload.ActionPresent, SHA256: sum}, nil
	case found && !req.Force:
		return upload.PutResult{}, &upload.ConflictError{Topic: req.Topic, Size: int64(len(old)), SHA256: sha256.Sum256(old)}
	case found:
		action, would = upload.ActionReplaced, upload.ActionWouldReplace
	}
	if req.DryRun {
		return upload.PutResult{Action: would, SHA256: sum}, nil
	}
	if req.Sending != nil {
		req.Sending()
	}
	b.sent = append(b.sent, req.Topic)
	b.deliver(req.Topic, data)
	return upload.PutResult{Action: action, SHA256: sum}, nil
}

func (b *fakeBroker) VerifyRetained(_ context.Context, topic string, size int, sum [32]byte) error {
	got, found := b.retained[topic]
	want := hex.EncodeToString(sum[:])
	if !found {
		return &upload.VerifyError{Topic: topic, WantSize: size, WantHash: want, Missing: true}
	}
	if gs := sha256.Sum256(got); len(got) != size || gs != sum {
		return &upload.VerifyError{Topic: topic, WantSize: size, WantHash: want, GotSize: len(got), GotHash: hex.EncodeToString(gs[:])}
	}
	return nil
}

func (b *fakeBroker) ReadRetained(_ context.Context, topic string) ([]byte, bool, error) {
	if err := b.readFail[topic]; err != nil {
		return nil, false, err
	}
	p, ok := b.retained[topic]
	return p, ok, nil
}

func (b *fakeBroker) ReadRetainedAll(_ context.Context, filter string, fn func(string, []byte)) error {
	for topic, p := range b.retained {
		if upload.MatchTopic(filter, topic) {
			fn(topic, p)
		}
	}
	return nil
}

func (b *fakeBroker) PublishVerified(_ context.Context, topic string, payload []byte) error {
	if err := b.fail[topic]; err != nil {
		return err
	}
	b.sent = append(b.sent, topic)
	b.deliver(topic, payload)
	return nil
}

func (b *fakeBroker) Clear(_ context.Context, topic string) error {
	if err := b.fail[topic]; err != nil {
		return err
	}
	b.sent = append(b.sent, topic)
	b.deliver(topic, nil)
	return nil
}

func (b *fakeBroker) WatchDesired(_ context.Context, topics []string, o upload.WatchOptions) (Watch, error) {
	w := &fakeWatch{b: b, o: o, initial: map[string][]byte{}, log: map[string][]upload.Seen{},
		own: map[string][]byte{}, from: map[string]int{}, restored: map[string]int{}}
	for _, t := range topics {
		p := b.retained[t]
		w.initial[t] = p
		if len(p) > 0 {
			w.log[t] = []upload.Seen{{Payload: p, Rank: o.Rank(p), Retained: true}}
		}
	}
	b.watches = append(b.watches, w)
	return w, nil
}

// fakeWatch is upload.Watch's contract on a fakeBroker: one Settle round
// puts the highest release seen back where a lower one replaced it.
type fakeWatch struct {
	b        *fakeBroker
	o        upload.WatchOptions
	initial  map[string][]byte
	log      map[string][]upload.Seen
	own      map[string][]byte
	from     map[string]int
	restored map[string]int
	closed   bool
}

func (w *fakeWatch) Retained(topic string) ([]byte, bool) {
	p := w.initial[topic]
	return p, len(p) > 0
}

func (w *fakeWatch) Seen(topic string) []upload.Seen { return w.log[topic] }
func (w *fakeWatch) Poll() error                     { return nil }
func (w *fakeWatch) Close()                          { w.closed = true }

func (w *fakeWatch) Own(topic string, payload []byte) error {
	w.claim(topic, payload)
	return nil
}

func (w *fakeWatch) claim(topic string, payload []byte) {
	if w.own[topic] == nil {
		w.own[topic] = payload
		if w.o.Over {
			w.from[topic] = len(w.log[topic])
		}
	}
}

func (w *fakeWatch) Publish(_ context.Context, topic string, payload []byte) error {
	if err := w.b.fail[topic]; err != nil {
		return err
	}
	w.claim(topic, payload)
	w.b.sent = append(w.b.sent, topic)
	w.b.deliver(topic, payload)
	return nil
}

func (w *fakeWatch) Settle(context.Context) (map[string]upload.Outcome, error) {
	if w.b.settleErr != nil {
		return nil, w.b.settleErr
	}
	out := map[string]upload.Outcome{}
	for topic, own := range w.own {
		ownRank := w.o.Rank(own)
		hi, hiPayload := ownRank, own
		for _, s := range w.log[topic][w.from[topic]:] {
			if s.Rank.Compare(hi) > 0 {
				hi, hiPayload = s.Rank, s.Payload
			}
		}
		if w.o.Rank(w.b.retained[topic]).Compare(hi) < 0 {
			w.restored[topic]++
			w.b.deliver(topic, hiPayload)
		}
		out[topic] = upload.Outcome{Retained: w.b.retained[topic], Highest: hi, Superseded: hi.Compare(ownRank) > 0, Restored: w.restored[topic]}
	}
	return out, nil
}

// events records what an Observer is told.
type events []Event

func (e *events) observe(ev Event) { *e = append(*e, ev) }

// fixture is a release of one component, its file and its manifest.
type fixture struct {
	t    *testing.T
	dir  string
	data []byte
	path string
	m    *release.Manifest
}

// newFixture makes a release of main@1.0.0 (size bytes) at sequence seq.
func newFixture(t *testing.T, seq int64, size int) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), data: make([]byte, size)}
	if _, err := rand.Read(f.data); err != nil {
		t.Fatal(err)
	}
	f.path = filepath.Join(f.dir, "main.bin")
	if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
		t.Fatal(err)
	}
	f.m = f.manifest(seq)
	return f
}

// manifest is the fixture's release at sequence seq.
func (f *fixture) manifest(seq int64) *release.Manifest {
	f.t.Helper()
	sum := sha256.Sum256(f.data)
	m := &release.Manifest{SequenceNumber: seq, Components: []release.Component{{
		Package: "main", Version: "1.0.0", Hash: hex.EncodeToString(sum[:]), Size: int64(len(f.data)),
		URI: release.ComponentURI("main", "1.0.0"), Type: "mcuboot",
	}}}
	m.Seal()
	return m
}

// payload is m as JSON.
func payload(t *testing.T, m *release.Manifest) []byte {
	t.Helper()
	b, err := release.EncodeJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// plan publishes the fixture's release to targets, with its file.
func (f *fixture) plan(targets ...Target) *Plan {
	return &Plan{Manifest: f.m, Payload: payload(f.t, f.m), Encoding: "json",
		Files: map[string]string{"main": f.path}, Targets: targets}
}

// dryRun is plan, dry run.
func (f *fixture) dryRun(targets ...Target) *Plan {
	p := f.plan(targets...)
	p.DryRun = true
	return p
}

var (
	fleet   = Target{Kind: "fleet", Topic: ".u/desired"}
	deviceA = Target{Kind: "device", Name: "a", Topic: "devices/a/.u/desired"}
	deviceB = Target{Kind: "device", Name: "b", Topic: "devices/b/.u/desired"}
)

var testNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// publisher is a Publisher on b that records its events.
func publisher(b *fakeBroker) (*Publisher, *events) {
	ev := &events{}
	return &Publisher{Broker: b, Now: func() time.Time { return testNow }, Observe: ev.observe}, ev
}

func newSigner(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedKeySet is a key set of version v with release key rel and the
// given roots (threshold 1 each), signed by signers.
func signedKeySet(t *testing.T, v int64, rel crypto.PublicKey, roots []crypto.PublicKey, signers ...crypto.Signer) *keyset.KeySet {
	t.Helper()
	ks, err := keyset.Build(v, []crypto.PublicKey{rel}, 1, roots, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Sign(signers...); err != nil {
		t.Fatal(err)
	}
	return ks
}
