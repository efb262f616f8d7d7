package release

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/text"
)

// DigestHeader is the first line of the release digest text.
const DigestHeader = "ota-release-digest-v1"

// mqttMaxRemaining is MQTT's largest remaining length of a packet: topic,
// packet id and payload together.
const mqttMaxRemaining = 268435455

// MaxComponentSize is the largest component a manifest may hold, in bytes
// (268,365,455): MQTT's largest packet less 70,000 bytes for the longest
// topic (65,535 bytes), its length and the packet id. A component's binary
// is one retained MQTT message, so a larger one could never be published
// nor downloaded.
const MaxComponentSize = mqttMaxRemaining - 70000

// Component is one binary of a release.
type Component struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Hash    string `json:"hash"` // lowercase hex SHA-256 of the published bytes
	Size    int64  `json:"size"`
	URI     string `json:"uri"`
	Type    string `json:"type,omitempty"`
}

// Signature is one signature over the release digest.
type Signature struct {
	KeyID string `json:"keyid"`
	Alg   string `json:"alg"` // AlgEd25519 or AlgECDSAP256
	Sig   string `json:"sig"` // standard base64 with padding
}

// Manifest is a release: what the seed calls the desired manifest, plus the
// optional expires and signatures fields of docs/protocol.md#manifest.
type Manifest struct {
	SequenceNumber int64       `json:"sequenceNumber"`
	Hash           string      `json:"hash"` // the release digest, lowercase hex
	Components     []Component `json:"components"`
	Expires        string      `json:"expires,omitempty"` // RFC 3339 UTC, "2026-12-27T23:22:22Z"
	Signatures     []Signature `json:"signatures,omitempty"`
}

// DigestText is the text whose SHA-256 is the release digest, exactly as in
// docs/protocol.md#release-digest: every line ends in "\n", components in the
// manifest's order.
func (m *Manifest) DigestText() string {
	var b strings.Builder
	b.WriteString(DigestHeader + "\n")
	b.WriteString("sequenceNumber " + strconv.FormatInt(m.SequenceNumber, 10) + "\n")
	b.WriteString("expires " + text.Dash(m.Expires) + "\n")
	for _, c := range m.Components {
		fmt.Fprintf(&b, "component %s %s %d %s %s %s\n", c.Package, c.Version, c.Size, c.Hash, text.Dash(c.Type), c.URI)
	}
	return b.String()
}

// Digest is the release digest: SHA-256 of DigestText.
func (m *Manifest) Digest() [32]byte {
	return sha256.Sum256([]byte(m.DigestText()))
}

// DigestHex is the release digest in lowercase hex, the value Hash must hold.
func (m *Manifest) DigestHex() string {
	d := m.Digest()
	return hex.EncodeToString(d[:])
}

// Seal sorts the components by package and sets Hash to the release digest.
// When that changes Hash, the signatures no longer sign this manifest and are
// dropped.
func (m *Manifest) Seal() {
	sort.SliceStable(m.Components, func(i, j int) bool {
		return m.Components[i].Package < m.Components[j].Package
	})
	h := m.DigestHex()
	if h != m.Hash {
		m.Signatures = nil
	}
	m.Hash = h
}

// Validate checks the manifest's form: names, hashes of 64 lowercase hex
// characters, sizes, uris, components sorted by package and unique, a
// positive sequence number, a canonical expiry and well-formed signature
// entries. It does not check that Hash equals the digest nor any signature:
// Verify does. The error names every problem found.
func (m *Manifest) Validate() error {
	if p := m.problems(); len(p) > 0 {
		return errors.New("invalid manifest: " + strings.Join(p, "; "))
	}
	return nil
}

// problems lists what Validate refuses, one message each.
func (m *Manifest) problems() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if m.SequenceNumber <= 0 {
		add("sequenceNumber %d is not a positive integer", m.SequenceNumber)
	}
	if !isHex64(m.Hash) {
		add("hash %q is not 64 lowercase hex characters", truncate(m.Hash))
	}
	if m.Expires != "" {
		if _, err := parseExpires(m.Expires); err != nil {
			add("%v", err)
		}
	}
	if len(m.Components) == 0 {
		add("no components")
	}
	for i, c := range m.Components {
		name := fmt.Sprintf("component %d", i+1)
		if c.Package != "" && ValidatePackage(c.Package) == nil {
			name = fmt.Sprintf("component %s", c.Package)
		}
		if err := ValidatePackage(c.Package); err != nil {
			add("%s: %v", name, err)
		}
		if err := ValidateVersion(c.Version); err != nil {
			add("%s: %v", name, err)
		}
		if !isHex64(c.Hash) {
			add("%s: hash %q is not 64 lowercase hex characters", name, truncate(c.Hash))
		}
		switch {
		case c.Size < 0:
			add("%s: size %d is negative", name, c.Size)
		case c.Size > MaxComponentSize:
			add("%s: size %d is more than %d bytes, the most one MQTT message can carry", name, c.Size, int64(MaxComponentSize))
		}
		if want := ComponentURI(c.Package, c.Version); c.URI != want {
			if prefix, ok := strings.CutSuffix(c.URI, want[1:]); ok && len(prefix) > 1 && prefix[0] == '/' {
				add("%s: uri %q holds the topic prefix %q: a uri is relative to the topic prefix, which each device puts before it, so it should be %q",
					name, truncate(c.URI), truncate(prefix[1:]), want)
			} else {
				add("%s: uri %q should be %q", name, truncate(c.URI), want)
			}
		}
		if c.Type != "" {
			if err := ValidateType(c.Type); err != nil {
				add("%s: %v", name, err)
			}
		}
		if i > 0 {
			prev := m.Components[i-1].Package
			switch {
			case prev == c.Package:
				add("package %q appears more than once", c.Package)
			case prev > c.Package:
				add("components are not sorted by package (%q comes after %q)", c.Package, prev)
			}
		}
	}
	seen := map[string]bool{}
	for i, s := range m.Signatures {
		if !isKeyID(s.KeyID) {
			add("signature %d: keyid %q is not 16 lowercase hex characters", i+1, truncate(s.KeyID))
		} else if seen[s.KeyID] {
			add("signature %d: keyid %s signs more than once", i+1, s.KeyID)
		}
		seen[s.KeyID] = true
		if s.Alg != AlgEd25519 && s.Alg != AlgECDSAP256 {
			add("signature %d: alg %q is not %s or %s", i+1, truncate(s.Alg), AlgEd25519, AlgECDSAP256)
		}
		if _, err := decodeSig(s.Sig); err != nil {
			add("signature %d: %v", i+1, err)
		}
	}
	return p
}

// ExpiresAt is the expiry time; ok is false when the manifest has none or
// it does not parse.
func (m *Manifest) ExpiresAt() (t time.Time, ok bool) {
	if m.Expires == "" {
		return time.Time{}, false
	}
	t, err := parseExpires(m.Expires)
	return t, err == nil
}

// parseExpires accepts only the canonical form "2006-01-02T15:04:05Z": RFC
// 3339, UTC, whole seconds, so that a device can compare it as text.
func parseExpires(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.UTC().Format(time.RFC3339) != s {
		return time.Time{}, fmt.Errorf("expires %q is not an RFC 3339 UTC time in whole seconds like 2026-12-27T23:22:22Z", truncate(s))
	}
	return t.UTC(), nil
}

func isHex64(s string) bool { return len(s) == 64 && isLowerHex(s) }

func isKeyID(s string) bool { return len(s) == 16 && isLowerHex(s) }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// decodeSig decodes a signature's sig field, refusing anything but canonical
// standard base64 with padding (no line breaks, no stray bits), so that the
// JSON and CBOR encodings carry the same bytes.
func decodeSig(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		return nil, fmt.Errorf("sig is not standard base64")
	}
	return b, nil
}
