// Package catalog is the release catalog: one retained JSON entry per
// published release at P.u/releases/{sequenceNumber}, saying what the
// release holds, who signed it, when it was published and where. Devices
// never read it; operators and CI do, through 'otactl release list' and
// 'release rollback'.
package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
)

// MaxEntrySize caps the entries Parse accepts.
const MaxEntrySize = 256 << 10

// Entry is one catalog entry.
type Entry struct {
	SequenceNumber int64 `json:"sequenceNumber"`
	// Hash is the release digest.
	Hash string `json:"hash"`
	// PublishedAt is when the release was last published to a target,
	// RFC 3339 UTC.
	PublishedAt string `json:"publishedAt"`
	// Expires is the manifest's expiry, if any.
	Expires    string              `json:"expires,omitempty"`
	Components []release.Component `json:"components"`
	// Signatures are the key ids and algorithms that signed the manifest
	// (not the signatures themselves: the manifest holds those).
	Signatures []Signer `json:"signatures"`
	// Targets are where the release was published, oldest first.
	Targets []Target `json:"targets"`
	// Encoding is how the desired manifest was published: json or cbor.
	Encoding string `json:"encoding"`
	// RollbackOf, when set, is the sequence number of the release this one
	// republishes.
	RollbackOf int64 `json:"rollbackOf,omitempty"`
}

// Signer is a key that signed a release.
type Signer struct {
	KeyID string `json:"keyid"`
	Alg   string `json:"alg"`
}

// Target is one place a release was published to.
type Target struct {
	Kind protocol.TargetKind `json:"kind"`
	Name string              `json:"name,omitempty"` // the cohort or device
	// At is when it was published there, RFC 3339 UTC.
	At string `json:"at"`
}

// Key is "fleet", "cohort:NAME" or "device:NAME".
func (t Target) Key() string {
	if t.Kind == protocol.Fleet {
		return protocol.Fleet.String()
	}
	return t.Kind.String() + ":" + t.Name
}

// New describes a release published now to targets.
func New(m *release.Manifest, encoding string, targets []Target, now time.Time) *Entry {
	e := &Entry{
		SequenceNumber: m.SequenceNumber,
		Hash:           m.Hash,
		PublishedAt:    now.UTC().Format(time.RFC3339),
		Expires:        m.Expires,
		Components:     append([]release.Component{}, m.Components...),
		Signatures:     []Signer{},
		Targets:        []Target{},
		Encoding:       encoding,
	}
	for _, s := range m.Signatures {
		e.Signatures = append(e.Signatures, Signer{KeyID: s.KeyID, Alg: s.Alg})
	}
	e.Merge(targets)
	return e
}

// Merge adds targets not yet listed (by Key); a target listed again keeps
// its first time.
func (e *Entry) Merge(targets []Target) {
	seen := map[string]bool{}
	for _, t := range e.Targets {
		seen[t.Key()] = true
	}
	for _, t := range targets {
		if !seen[t.Key()] {
			seen[t.Key()] = true
			e.Targets = append(e.Targets, t)
		}
	}
}

// Encode writes e as indented JSON with a final newline.
func (e *Entry) Encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Manifest rebuilds the components of the release as an unsigned manifest
// with a new sequence number, for a rollback. The caller seals and signs it.
func (e *Entry) Manifest(seq int64) *release.Manifest {
	return &release.Manifest{SequenceNumber: seq, Components: append([]release.Component{}, e.Components...)}
}

// Parse decodes an entry read from the broker: at most MaxEntrySize bytes
// of JSON, no unknown fields, and the fields must make sense (a positive
// sequence number, a 64-hex digest, valid component names and hashes,
// targets of a known kind).
func Parse(b []byte) (*Entry, error) {
	if len(b) == 0 {
		return nil, errors.New("empty catalog entry")
	}
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("catalog entry of %d bytes: more than %d", len(b), MaxEntrySize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("catalog entry: %w", err)
	}
	if dec.More() {
		return nil, errors.New("catalog entry: data after the JSON object")
	}
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("catalog entry %d: %w", e.SequenceNumber, err)
	}
	return &e, nil
}

func (e *Entry) check() error {
	if e.SequenceNumber <= 0 {
		return errors.New("sequenceNumber must be positive")
	}
	if !isHex64(e.Hash) {
		return errors.New("hash is not 64 lowercase hex digits")
	}
	if _, err := time.Parse(time.RFC3339, e.PublishedAt); err != nil {
		return fmt.Errorf("publishedAt %q is not an RFC 3339 time", e.PublishedAt)
	}
	if len(e.Components) == 0 {
		return errors.New("no components")
	}
	for _, c := range e.Components {
		if err := release.ValidatePackage(c.Package); err != nil {
			return err
		}
		if err := release.ValidateVersion(c.Version); err != nil {
			return err
		}
		if !isHex64(c.Hash) {
			return fmt.Errorf("component %s: hash is not 64 lowercase hex digits", c.Package)
		}
		if c.Size < 0 {
			return fmt.Errorf("component %s: negative size", c.Package)
		}
	}
	for _, t := range e.Targets {
		if err := (protocol.Target{Kind: t.Kind, Name: t.Name}).Validate(); err != nil {
			return err
		}
	}
	switch e.Encoding {
	case "json", "cbor":
	default:
		return fmt.Errorf("encoding %q: want json or cbor", e.Encoding)
	}
	if e.Signatures == nil {
		e.Signatures = []Signer{}
	}
	if e.Targets == nil {
		e.Targets = []Target{}
	}
	return nil
}

// Sort orders entries by sequence number, oldest first.
func Sort(entries []*Entry) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].SequenceNumber < entries[j].SequenceNumber })
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
