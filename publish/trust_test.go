package publish

import (
	"context"
	"crypto"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/keyset"
	"github.com/otactl/otactl/release"
)

func TestResolveTrust(t *testing.T) {
	for _, tc := range []struct {
		name          string
		src           TrustSources
		wantRefs      []string
		wantThreshold int
	}{
		{"nothing", TrustSources{}, nil, 0},
		{"flags", TrustSources{Pubkeys: []string{"a", "b"}, Threshold: 2}, []string{"a", "b"}, 2},
		{"flags without threshold", TrustSources{Pubkeys: []string{"a"}, ProfileThreshold: 3}, []string{"a"}, 0},
		{"profile", TrustSources{ProfilePubkeys: []string{"p", "q"}, ProfileThreshold: 2}, []string{"p", "q"}, 2},
		{"profile keys, explicit threshold", TrustSources{Threshold: 1, ProfilePubkeys: []string{"p", "q"}, ProfileThreshold: 2}, []string{"p", "q"}, 1},
		{"flag keys win", TrustSources{Pubkeys: []string{"a"}, ProfilePubkeys: []string{"p"}, ProfileThreshold: 1}, []string{"a"}, 0},
		{"threshold without keys", TrustSources{Threshold: 2}, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			p, err := ResolveTrust(tc.src, func(_ string, refs []string) ([]crypto.PublicKey, error) {
				asked = refs
				out := make([]crypto.PublicKey, len(refs))
				for i := range refs {
					out[i] = newSigner(t).Public()
				}
				return out, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(asked, tc.wantRefs) || len(p.Keys) != len(tc.wantRefs) || p.Threshold != tc.wantThreshold {
				t.Errorf("keys from %v (%d), threshold %d; want %v, %d", asked, len(p.Keys), p.Threshold, tc.wantRefs, tc.wantThreshold)
			}
		})
	}
	// Root keys: --root-pubkey's, else the profile's.
	for _, tc := range []struct {
		src  TrustSources
		want []string
	}{
		{TrustSources{ProfileRootPubkeys: []string{"r"}}, []string{"r"}},
		{TrustSources{RootPubkeys: []string{"flag"}, ProfileRootPubkeys: []string{"r"}}, []string{"flag"}},
		{TrustSources{}, nil},
	} {
		var asked []string
		p, err := ResolveTrust(tc.src, func(flag string, refs []string) ([]crypto.PublicKey, error) {
			if flag == "--root-pubkey" {
				asked = refs
			}
			return []crypto.PublicKey{newSigner(t).Public()}, nil
		})
		if err != nil || !reflect.DeepEqual(asked, tc.want) || len(p.Roots) != len(tc.want) {
			t.Errorf("%+v: roots from %v (%d), %v; want %v", tc.src, asked, len(p.Roots), err, tc.want)
		}
	}
	boom := errors.New("--pubkey: no such key")
	if _, err := ResolveTrust(TrustSources{ProfilePubkeys: []string{"gone"}}, func(string, []string) ([]crypto.PublicKey, error) { return nil, boom }); err != boom {
		t.Errorf("resolve error: %v", err)
	}
}

func TestTrustPolicyCheckPublish(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1000, 10)
	ev := &events{}

	if err := (TrustPolicy{}).CheckPublish(ctx, f.m, testNow, ev.observe); err != nil {
		t.Fatal(err)
	}
	if len(*ev) != 1 || (*ev)[0] != (Warning{"publishing an unsigned release (no --pubkey, and the profile does not require signatures)"}) {
		t.Errorf("unsigned: events %+v", *ev)
	}

	err := TrustPolicy{RequireSignatures: true, Profile: "prod"}.CheckPublish(ctx, f.m, testNow, nil)
	if err == nil || err.Error() != `profile "prod" requires signatures but names no trusted key` || !strings.Contains(hint.Of(err), "config set pubkey") {
		t.Errorf("required, no key: %v", err)
	}

	k1, k2 := newSigner(t), newSigner(t)
	m := f.manifest(1000)
	if err := m.Sign(k1); err != nil {
		t.Fatal(err)
	}
	*ev = nil
	both := []crypto.PublicKey{k1.Public(), k2.Public()}
	if err := (TrustPolicy{Keys: both}).CheckPublish(ctx, m, testNow, ev.observe); err != nil || len(*ev) != 0 {
		t.Errorf("one of two keys, threshold 1: %v, events %+v", err, *ev)
	}
	if err := (TrustPolicy{Keys: both, Threshold: 2}).CheckPublish(ctx, m, testNow, nil); !errors.Is(err, release.ErrVerification) {
		t.Errorf("one of two keys, threshold 2: %v", err)
	}
}

func TestTrustPolicyVerdict(t *testing.T) {
	f := newFixture(t, 1000, 10)
	v := TrustPolicy{RequireSignatures: true}.Verdict(context.Background(), f.m, testNow)
	if v.OK || !errors.Is(v.Err(), release.ErrVerification) || !strings.Contains(v.Err().Error(), "the profile requires signatures but names no trusted key") {
		t.Errorf("required, no key: %+v", v)
	}
	if v := (TrustPolicy{}).Verdict(context.Background(), f.m, testNow); v.Err() != nil {
		t.Errorf("no policy: %v", v.Err())
	}
}

// TestCheckKeySetWantsItsOwnRoots: a key set signed by the trusted root
// but naming new roots that did not sign it is refused, as devices
// (keyset.Accept) refuse it.
func TestCheckKeySetWantsItsOwnRoots(t *testing.T) {
	rootA, rootX, rel := newSigner(t), newSigner(t), newSigner(t)
	build := func(roots []crypto.PublicKey, signers ...crypto.Signer) *keyset.KeySet {
		return signedKeySet(t, 2, rel.Public(), roots, signers...)
	}
	m := &release.Manifest{SequenceNumber: 1, Components: []release.Component{{Package: "main", Version: "1.0.0", Size: 1, Hash: strings.Repeat("ab", 32), URI: "/.u/c/main@1.0.0"}}}
	m.Hash = m.DigestHex()
	if err := m.Sign(rel); err != nil {
		t.Fatal(err)
	}
	p := TrustPolicy{Roots: []crypto.PublicKey{rootA.Public()}}
	check := func(ks *keyset.KeySet) error {
		return p.CheckKeySet(context.Background(), m, ks, ".u/keys", time.Now(), func(Event) {})
	}
	if err := check(build([]crypto.PublicKey{rootX.Public()}, rootA, rootX)); err != nil {
		t.Errorf("signed by the trusted root and its own: %v", err)
	}
	if err := check(build([]crypto.PublicKey{rootX.Public()}, rootA)); !errors.Is(err, release.ErrVerification) {
		t.Errorf("not signed by its own roots: %v, want a verification error", err)
	}
}
