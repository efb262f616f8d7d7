package publish

import (
	"context"
	"crypto"
	"errors"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/keyset"
	"github.com/otactl/otactl/release"
)

// rotate runs Rotate on b and fails the test on an error.
func rotate(t *testing.T, p *Publisher, req RotateRequest) *RotateReport {
	t.Helper()
	rep, err := p.Rotate(context.Background(), req)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	return rep
}

func retainedKeySet(t *testing.T, b *fakeBroker) *keyset.KeySet {
	t.Helper()
	ks, err := keyset.Parse(b.retained[b.topics.KeySet()])
	if err != nil {
		t.Fatalf("retained key set: %v", err)
	}
	return ks
}

// TestRotateBootstrapsThenRotates: the first key set needs --bootstrap,
// the next one gets the version above it, and each is retained as devices
// would accept it from the one before.
func TestRotateBootstrapsThenRotates(t *testing.T) {
	b := newFakeBroker(t)
	p, _ := publisher(b)
	root, rel1, rel2 := newSigner(t), newSigner(t), newSigner(t)
	req := RotateRequest{Signers: []crypto.Signer{root}, ReleaseKeys: []crypto.PublicKey{rel1.Public()}}

	if _, err := p.Rotate(context.Background(), req); err == nil || !strings.Contains(err.Error(), "no key set on .u/keys") {
		t.Fatalf("rotate without a key set: %v", err)
	}
	boot := req
	boot.Bootstrap = true
	boot.DryRun = true
	if rep := rotate(t, p, boot); rep.Action != KeySetWouldPublish || len(b.sent) != 0 {
		t.Fatalf("dry run: %+v, sent %v", rep, b.sent)
	}
	boot.DryRun = false
	rep := rotate(t, p, boot)
	if rep.Version != 1 || !rep.Bootstrap || rep.Action != KeySetPublished {
		t.Fatalf("bootstrap: %+v", rep)
	}
	if _, err := p.Rotate(context.Background(), boot); err == nil || !strings.Contains(err.Error(), "already on .u/keys (version 1)") {
		t.Fatalf("a second bootstrap: %v", err)
	}

	req.ReleaseKeys = []crypto.PublicKey{rel2.Public()}
	rep = rotate(t, p, req)
	ks := retainedKeySet(t, b)
	if rep.Version != 2 || rep.PreviousVersion != 1 || ks.Version != 2 || ks.Keys[0].KeyID != keyID(t, rel2) {
		t.Fatalf("rotate: %+v, retained version %d", rep, ks.Version)
	}
	if err := keyset.Accept(keyset.Root{Keys: []crypto.PublicKey{root.Public()}, Threshold: 1, Version: 1}, ks); err != nil {
		t.Fatalf("a device on version 1 refuses what was published: %v", err)
	}

	// Anti-rollback, and a key set the root did not sign: refused, exit 3.
	old := req
	old.Version = 2
	if _, err := p.Rotate(context.Background(), old); !errors.Is(err, release.ErrVerification) || !errors.Is(err, keyset.ErrOlder) {
		t.Fatalf("version 2 again: %v", err)
	}
	forged := req
	forged.Signers = []crypto.Signer{rel1}
	_, err := p.Rotate(context.Background(), forged)
	if !errors.Is(err, release.ErrVerification) || !strings.Contains(err.Error(), "0 valid signatures by the 1 trusted root keys") {
		t.Fatalf("signed by a release key: %v", err)
	}
	if retainedKeySet(t, b).Version != 2 {
		t.Fatal("a refused key set was published")
	}
}

// TestPublishHoldsTheManifestToTheKeySet: with a key set retained, a
// release signed by a key it does not list is refused before anything is
// sent; one signed by its release key goes out; a key set not signed by
// the given root refuses every release.
func TestPublishHoldsTheManifestToTheKeySet(t *testing.T) {
	b := newFakeBroker(t)
	p, ev := publisher(b)
	root, other, rel1, rel2 := newSigner(t), newSigner(t), newSigner(t), newSigner(t)
	rotate(t, p, RotateRequest{Signers: []crypto.Signer{root}, ReleaseKeys: []crypto.PublicKey{rel2.Public()}, Bootstrap: true})
	b.sent = nil
	f := newFixture(t, 1000, 10)
	sign := func(seq int64, k crypto.Signer) *Plan {
		f.m = f.manifest(seq)
		if err := f.m.Sign(k); err != nil {
			t.Fatal(err)
		}
		plan := f.plan(fleet)
		plan.Trust = TrustPolicy{Roots: []crypto.PublicKey{root.Public()}}
		return plan
	}

	_, err := p.Publish(context.Background(), sign(1000, rel1))
	if !errors.Is(err, release.ErrVerification) || !strings.Contains(err.Error(), "release keys of key set version 1 on .u/keys") || len(b.sent) != 0 {
		t.Fatalf("a release signed by a key the key set does not list: %v, sent %v", err, b.sent)
	}
	if _, err := p.Publish(context.Background(), sign(1001, rel2)); err != nil {
		t.Fatalf("a release signed by the key set's release key: %v", err)
	}
	if len(*ev) == 0 {
		t.Fatal("no events")
	}
	for _, e := range *ev {
		if w, ok := e.(Warning); ok && strings.Contains(w.Message, "own root keys only") {
			t.Errorf("warned with a root given: %s", w.Message)
		}
	}

	// A key set signed by a key that is not the root, naming itself root.
	ks := signedKeySet(t, 2, rel1.Public(), []crypto.PublicKey{other.Public()}, other)
	b.retained[b.topics.KeySet()], _ = keyset.Encode(ks)
	b.sent = nil
	_, err = p.Publish(context.Background(), sign(1002, rel1))
	if !errors.Is(err, release.ErrVerification) || !strings.Contains(err.Error(), "key set on .u/keys") || len(b.sent) != 0 {
		t.Fatalf("a key set not signed by the root: %v, sent %v", err, b.sent)
	}
	// Without --root-pubkey it is only held to its own root, with a warning.
	plan := sign(1002, rel1)
	plan.Trust.Roots = nil
	*ev = nil
	if _, err := p.Publish(context.Background(), plan); err != nil {
		t.Fatalf("without a root: %v", err)
	}
	if w, ok := (*ev)[0].(Warning); !ok || !strings.Contains(w.Message, "own root keys only") {
		t.Errorf("first event %#v, want the warning", (*ev)[0])
	}
}

func keyID(t *testing.T, s crypto.Signer) string {
	t.Helper()
	id, err := release.KeyID(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestUnreadableKeySet: a key set that does not parse refuses every
// release (exit 3) and every rotation but one that says --force and
// --version, which replaces it.
func TestUnreadableKeySet(t *testing.T) {
	b := newFakeBroker(t)
	p, _ := publisher(b)
	b.retained[b.topics.KeySet()] = []byte(`{"format":"ota-keyset-v1","version":7}`)
	f := newFixture(t, 1000, 10)
	_, err := p.Publish(context.Background(), f.plan(fleet))
	if !errors.Is(err, release.ErrVerification) || !strings.Contains(hint.Of(err), "--force --version") || len(b.sent) != 0 {
		t.Fatalf("publish under an unreadable key set: %v, sent %v", err, b.sent)
	}
	root, rel := newSigner(t), newSigner(t)
	req := RotateRequest{Signers: []crypto.Signer{root}, ReleaseKeys: []crypto.PublicKey{rel.Public()}, Force: true}
	if _, err := p.Rotate(context.Background(), req); !errors.Is(err, release.ErrVerification) {
		t.Fatalf("rotate --force without --version: %v", err)
	}
	req.Version = 8
	if rep := rotate(t, p, req); rep.Version != 8 || rep.Bootstrap || rep.PreviousVersion != 0 {
		t.Fatalf("rotate --force --version 8: %+v", rep)
	}
	if retainedKeySet(t, b).Version != 8 {
		t.Fatal("the unreadable key set was not replaced")
	}
}

// TestRotateConfirmsEveryEndpoint: a key set is confirmed on every other
// endpoint as a manifest is: one that does not serve it makes the run a
// *PartialError (exit 6) carrying what each endpoint confirmed; one that
// retains a key set of the same or a higher version refuses the rotation
// before anything is sent.
func TestRotateConfirmsEveryEndpoint(t *testing.T) {
	ctx := context.Background()
	b, other := newFakeBroker(t), newFakeBroker(t)
	root, rel := newSigner(t), newSigner(t)
	req := RotateRequest{Signers: []crypto.Signer{root}, ReleaseKeys: []crypto.PublicKey{rel.Public()}, Bootstrap: true}

	p, ev := endpointPublisher(b, &fakeEndpoint{b: b})
	rep := rotate(t, p, req)
	if len(rep.Endpoints) != 2 || !rep.Endpoints[1].Confirmed || (*ev)[len(*ev)-1] != (EndpointDone{Step: "key set", URL: "mqtt://e1:1883"}) {
		t.Fatalf("confirmed: %+v, events %v", rep.Endpoints, *ev)
	}

	// An endpoint the key set does not reach: published, not confirmed.
	req.Bootstrap = false
	p, _ = endpointPublisher(b, &fakeEndpoint{b: b}, &fakeEndpoint{b: other})
	_, err := p.Rotate(ctx, req)
	var partial *PartialError
	if !errors.As(err, &partial) || !strings.Contains(err.Error(), "key set not confirmed on every endpoint: endpoint mqtt://e2:1883") {
		t.Fatalf("not confirmed: %v", err)
	}
	got, ok := partial.Result.(*RotateReport)
	if !ok || got.Version != 2 || got.Action != KeySetPublished || len(got.Endpoints) != 3 || !got.Endpoints[1].Confirmed || got.Endpoints[2].Confirmed {
		t.Fatalf("report: %+v", partial.Result)
	}
	if retainedKeySet(t, b).Version != 2 {
		t.Fatal("the publishing broker does not retain version 2")
	}

	// The other endpoint retains a higher version: refused, nothing sent.
	ks := retainedKeySet(t, b)
	ks.Version = 5
	if err := ks.Sign(root); err != nil {
		t.Fatal(err)
	}
	five, err := keyset.Encode(ks)
	if err != nil {
		t.Fatal(err)
	}
	other.retained[other.topics.KeySet()] = five
	b.sent = nil
	if _, err := p.Rotate(ctx, req); !errors.Is(err, release.ErrVerification) || !strings.Contains(err.Error(), "retains 5 on mqtt://e2:1883") || len(b.sent) != 0 {
		t.Fatalf("a higher version on an endpoint: %v, sent %v", err, b.sent)
	}
}
