package release

import (
	"strings"
	"testing"
	"time"
)

func TestDigestTextWithoutExpiryAndType(t *testing.T) {
	m := &Manifest{SequenceNumber: 42, Components: []Component{{Package: "a", Version: "1", Hash: h64, Size: 7, URI: "/.u/c/a@1"}}}
	want := "ota-release-digest-v1\nsequenceNumber 42\nexpires -\ncomponent a 1 7 " + h64 + " - /.u/c/a@1\n"
	if got := m.DigestText(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	// sha256 of that text, computed with: printf '...' | sha256sum
	if got := m.DigestHex(); got != hexSHA256([]byte(want)) {
		t.Errorf("digest %s", got)
	}
}

func TestDigestCoversEveryField(t *testing.T) {
	base := vectorManifest()
	edits := map[string]func(m *Manifest){
		"sequenceNumber": func(m *Manifest) { m.SequenceNumber++ },
		"expires":        func(m *Manifest) { m.Expires = "" },
		"package":        func(m *Manifest) { m.Components[0].Package = "mainx" },
		"version":        func(m *Manifest) { m.Components[0].Version = "1.2.4" },
		"size":           func(m *Manifest) { m.Components[0].Size++ },
		"hash":           func(m *Manifest) { m.Components[0].Hash = h64[1:] + "0" },
		"type":           func(m *Manifest) { m.Components[1].Type = "modem" },
		"uri":            func(m *Manifest) { m.Components[0].URI += "x" },
		"order":          func(m *Manifest) { m.Components[0], m.Components[1] = m.Components[1], m.Components[0] },
	}
	for name, edit := range edits {
		m := vectorManifest()
		edit(m)
		if m.Digest() == base.Digest() {
			t.Errorf("changing %s leaves the digest unchanged", name)
		}
	}
	m := vectorManifest()
	m.Hash = "x"
	m.Signatures = []Signature{{KeyID: "k"}}
	if m.Digest() != base.Digest() {
		t.Error("hash and signatures must not be part of the digest")
	}
}

func TestSeal(t *testing.T) {
	m := vectorManifest()
	if m.Components[0].Package != "main" || m.Hash != vectorDigestHex {
		t.Fatalf("Seal: %+v", m)
	}
	m.Signatures = []Signature{{KeyID: vectorEdKeyID, Alg: AlgEd25519, Sig: vectorEdSig}}
	m.Seal()
	if len(m.Signatures) != 1 {
		t.Error("Seal of an unchanged manifest dropped its signatures")
	}
	m.SequenceNumber++
	m.Seal()
	if m.Signatures != nil {
		t.Error("Seal of a changed manifest kept signatures that no longer sign it")
	}
	if m.Hash != m.DigestHex() {
		t.Error("hash is not the digest")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *Manifest)
		want string // "" for valid
	}{
		{"vector", func(m *Manifest) {}, ""},
		{"signed", func(m *Manifest) {
			m.Signatures = []Signature{{KeyID: vectorEdKeyID, Alg: AlgEd25519, Sig: vectorEdSig}}
		}, ""},
		{"zero sequence", func(m *Manifest) { m.SequenceNumber = 0 }, "sequenceNumber 0 is not a positive integer"},
		{"negative sequence", func(m *Manifest) { m.SequenceNumber = -1 }, "not a positive integer"},
		{"short hash", func(m *Manifest) { m.Hash = "abc" }, `hash "abc" is not 64 lowercase hex`},
		{"upper-case hash", func(m *Manifest) { m.Hash = strings.ToUpper(m.Hash) }, "is not 64 lowercase hex"},
		{"component hash", func(m *Manifest) { m.Components[0].Hash = "g" + h64[1:] }, "component main: hash"},
		{"negative size", func(m *Manifest) { m.Components[0].Size = -1 }, "component main: size -1 is negative"},
		{"zero size", func(m *Manifest) { m.Components[0].Size = 0 }, ""},
		{"wrong uri", func(m *Manifest) { m.Components[0].URI = "/.u/c/main@1.2.4" }, `uri "/.u/c/main@1.2.4" should be "/.u/c/main@1.2.3"`},
		{"uri with a topic prefix", func(m *Manifest) { m.Components[0].URI = "/acme/.u/c/main@1.2.3" },
			`uri "/acme/.u/c/main@1.2.3" holds the topic prefix "acme/": a uri is relative to the topic prefix, which each device puts before it, so it should be "/.u/c/main@1.2.3"`},
		{"bad package", func(m *Manifest) { m.Components[0].Package = "ma in" }, "component 1: invalid package"},
		{"bad version", func(m *Manifest) { m.Components[0].Version = "1 2" }, "invalid version"},
		{"bad type", func(m *Manifest) { m.Components[0].Type = "mcu boot" }, "invalid type"},
		{"dash type", func(m *Manifest) { m.Components[0].Type = "-" }, `invalid type "-"`},
		{"unsorted", func(m *Manifest) { m.Components[0], m.Components[1] = m.Components[1], m.Components[0] }, "not sorted by package"},
		{"duplicate", func(m *Manifest) { m.Components[1] = m.Components[0] }, `package "main" appears more than once`},
		{"no components", func(m *Manifest) { m.Components = nil }, "no components"},
		{"expires with offset", func(m *Manifest) { m.Expires = "2027-01-01T01:00:00+01:00" }, "is not an RFC 3339 UTC time"},
		{"expires with fraction", func(m *Manifest) { m.Expires = "2027-01-01T00:00:00.5Z" }, "whole seconds"},
		{"expires not a time", func(m *Manifest) { m.Expires = "tomorrow" }, "expires"},
		{"bad keyid", func(m *Manifest) {
			m.Signatures = []Signature{{KeyID: "XYZ", Alg: AlgEd25519, Sig: vectorEdSig}}
		}, `keyid "XYZ" is not 16 lowercase hex`},
		{"two signatures by one key", func(m *Manifest) {
			s := Signature{KeyID: vectorEdKeyID, Alg: AlgEd25519, Sig: vectorEdSig}
			m.Signatures = []Signature{s, s}
		}, "signs more than once"},
		{"unknown alg", func(m *Manifest) {
			m.Signatures = []Signature{{KeyID: vectorEdKeyID, Alg: "rsa", Sig: vectorEdSig}}
		}, `alg "rsa" is not ed25519 or ecdsa-p256`},
		{"sig not base64", func(m *Manifest) {
			m.Signatures = []Signature{{KeyID: vectorEdKeyID, Alg: AlgEd25519, Sig: "@@"}}
		}, "sig is not standard base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := vectorManifest()
			tt.edit(m)
			err := m.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("no error, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	m := vectorManifest()
	m.SequenceNumber = 0
	m.Components[0].Size = -5
	err := m.Validate()
	if err == nil || !strings.Contains(err.Error(), "sequenceNumber") || !strings.Contains(err.Error(), "size -5") {
		t.Errorf("error %v does not name both problems", err)
	}
}

func TestExpiresAt(t *testing.T) {
	m := vectorManifest()
	got, ok := m.ExpiresAt()
	if !ok || !got.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ExpiresAt = %v, %v", got, ok)
	}
	m.Expires = ""
	if _, ok := m.ExpiresAt(); ok {
		t.Error("no expiry reported as one")
	}
	m.Expires = "soon"
	if _, ok := m.ExpiresAt(); ok {
		t.Error("bad expiry reported as one")
	}
}
