package simulator

import (
	"context"
	"crypto"
	"strings"
	"testing"

	"github.com/otactl/otactl/internal/testbroker"
	"github.com/otactl/otactl/keyset"
	"github.com/otactl/otactl/report"
	"github.com/otactl/otactl/upload"
)

// publishKeySet publishes, retained, key set version v of the release
// keys rel (threshold 1) and the roots (threshold 1), signed by signers.
func (h *harness) publishKeySet(v int64, rel, roots []crypto.PublicKey, signers ...crypto.Signer) {
	h.t.Helper()
	ks, err := keyset.Build(v, rel, 1, roots, 1)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, s := range signers {
		if err := ks.Sign(s); err != nil {
			h.t.Fatal(err)
		}
	}
	b, err := keyset.Encode(ks)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.op.PublishRetained(context.Background(), h.op.Topics().KeySet(), b); err != nil {
		h.t.Fatal(err)
	}
}

// TestKeyRotation: devices provisioned with root A only act on nothing
// until a key set comes; they follow key set 1 (release key 1), then key
// set 2 (release key 2) and refuse manifests signed by release key 1
// afterwards; a key set signed by a key that is not the root, and an older
// key set, are refused and the device keeps following key set 2.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	for _, b := range testbroker.All(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			rootA, pubA := signer(t, "ed25519")
			other, pubOther := signer(t, "ecdsa-p256")
			rel1, pub1 := signer(t, "ecdsa-p256")
			rel2, pub2 := signer(t, "ed25519")
			h := startOn(t, b, Config{Devices: 2, Roots: []crypto.PublicKey{pubA}, Conn: upload.Options{TopicPrefix: "acme/"}})
			fleet := h.op.Topics().Fleet()
			ids := []string{h.fleet.Devices()[0].ID, h.fleet.Devices()[1].ID}
			waitAll := func(what string, match func(id string) func(Event) bool) {
				t.Helper()
				for _, id := range ids {
					h.rec.waitFor(t, id+": "+what, match(id))
				}
			}
			kind := func(k, detail string) func(string) func(Event) bool {
				return func(id string) func(Event) bool {
					return func(e Event) bool { return e.Device == id && e.Kind == k && strings.Contains(e.Detail, detail) }
				}
			}

			h.publishRelease(fleet, manifestOpts{seq: 100, version: "1.0.5", signers: []crypto.Signer{rel1}})
			waitAll("waits for a key set", kind(EventIgnored, "no release keys yet"))

			h.publishKeySet(1, []crypto.PublicKey{pub1}, []crypto.PublicKey{pubA}, rootA)
			waitAll("follows key set 1", kind(EventKeySet, "following key set version 1"))
			waitAll("updated with release key 1", func(id string) func(Event) bool { return isReport(id, report.Updated, report.ReasonUpdated, "1.0.5") })

			h.publishKeySet(2, []crypto.PublicKey{pub2}, []crypto.PublicKey{pubA}, rootA)
			waitAll("follows key set 2", kind(EventKeySet, "following key set version 2"))
			h.publishRelease(fleet, manifestOpts{seq: 101, version: "1.1.0", signers: []crypto.Signer{rel1}})
			waitAll("refuses release key 1", func(id string) func(Event) bool {
				return func(e Event) bool { return e.Device == id && e.Kind == EventRefused && e.Sequence == 101 }
			})

			h.publishKeySet(3, []crypto.PublicKey{pub1}, []crypto.PublicKey{pubOther}, other)
			waitAll("refuses a key set not signed by root A", kind(EventKeySetRefused, "0 valid signatures by the 1 trusted root keys"))
			h.publishKeySet(1, []crypto.PublicKey{pub1}, []crypto.PublicKey{pubA}, rootA)
			waitAll("refuses an older key set", kind(EventKeySetRefused, "key set version 1 refused: not above version 2"))

			h.publishRelease(fleet, manifestOpts{seq: 102, version: "1.2.0", signers: []crypto.Signer{rel2}})
			waitAll("updated with release key 2", func(id string) func(Event) bool { return isReport(id, report.Updated, report.ReasonUpdated, "1.2.0") })
			for _, d := range h.fleet.Devices() {
				if v := d.KeySetVersion(); v != 2 {
					t.Errorf("%s follows key set %d, want 2", d.ID, v)
				}
			}
			for _, e := range h.rec.all("") {
				if e.Kind == EventReport && e.Target == "1.1.0" && e.State == report.Downloading {
					t.Errorf("downloaded the release signed by release key 1: %+v", e)
				}
			}
		})
	}
}
