package release

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestExpiryAndSigning: an expired manifest is refused for signing with
// an error wrapping ErrVerification; SetExpiry gives it a new expiry,
// dropping the signatures, and refuses a manifest changed after sealing.
func TestExpiryAndSigning(t *testing.T) {
	signer := loadSigner(t, "vector-ed25519.pem")
	m := sizedManifest(10)
	m.Expires = "2024-01-01T00:00:00Z"
	m.Seal()
	if err := m.Sign(signer); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := m.CheckNotExpired(at.Add(-time.Second)); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	err := m.CheckNotExpired(at)
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), "manifest expired at 2024-01-01T00:00:00Z") {
		t.Errorf("at expiry: %v", err)
	}
	dropped, err := m.SetExpiry(at.Add(30*24*time.Hour + 500*time.Millisecond))
	if err != nil || dropped != 1 || len(m.Signatures) != 0 || m.Expires != "2024-01-31T00:00:00Z" || m.Hash != m.DigestHex() {
		t.Fatalf("SetExpiry: dropped %d, %v, %+v", dropped, err, m)
	}
	if err := m.CheckNotExpired(at); err != nil {
		t.Errorf("after SetExpiry: %v", err)
	}
	m.Components[0].Size++ // changed after sealing
	if _, err := m.SetExpiry(at.Add(time.Hour)); !errors.Is(err, ErrVerification) {
		t.Errorf("SetExpiry of a changed manifest: %v", err)
	}
	if (&Manifest{}).CheckNotExpired(at) != nil {
		t.Error("a manifest without expiry expired")
	}
}
