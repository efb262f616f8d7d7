package publish

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/otactl/otactl/protocol"
	"github.com/otactl/otactl/release"
)

// Target is one desired topic.
type Target struct {
	Kind  protocol.TargetKind
	Name  string
	Topic string
}

func (t Target) String() string {
	return protocol.Target{Kind: t.Kind, Name: t.Name}.String()
}

// Plan is everything a publish needs, checked before any network traffic.
type Plan struct {
	Manifest   *release.Manifest
	Payload    []byte            // the desired manifest as published
	Encoding   string            // json or cbor
	Files      map[string]string // package -> artifact file
	MaxPayload int64             // the broker's largest message; 0: no limit
	// BlockSize publishes every artifact in blocks of this size
	// (docs/protocol.md#block-artifacts); 0: only those over MaxPayload.
	BlockSize int64
	Targets   []Target
	Percent   float64 // also the devices --percent chooses; 0: none
	// DeviceGlobs are device id patterns (path.Match: *, ?, [...]): also
	// the reporting devices each matches; one that matches none is an
	// error.
	DeviceGlobs []string
	Force       bool
	DryRun      bool
	RollbackOf  int64
	// Strict refuses the plan when the device-compatibility lint has
	// findings (Publisher.Lint).
	Strict bool
	// Trust is the policy the manifest is held to against the key set the
	// fleet follows (Publisher.KeySet).
	Trust TrustPolicy
	// ArtifactsDir is the folder Files were looked for in (--artifacts),
	// named when a component is neither there nor on the broker.
	ArtifactsDir string
}

// Report is what a publish did (or, with DryRun, would do).
type Report struct {
	SequenceNumber int64  `json:"sequenceNumber"`
	Hash           string `json:"hash"`
	Encoding       string `json:"encoding"`
	DryRun         bool   `json:"dryRun"`
	RollbackOf     int64  `json:"rollbackOf,omitempty"`
	// Warnings are the device-compatibility lint's findings.
	Warnings  []release.Finding `json:"warnings"`
	Artifacts []ArtifactResult  `json:"artifacts"`
	Targets   []TargetResult    `json:"targets"`
	Catalog   CatalogResult     `json:"catalog"`
	// Endpoints say, with several broker endpoints, on which the desired
	// manifest was confirmed, the publishing connection first.
	Endpoints []EndpointResult `json:"endpoints,omitempty"`
}

// ArtifactResult is what happened to one artifact.
type ArtifactResult struct {
	Package string `json:"package"`
	Version string `json:"version"`
	Topic   string `json:"topic"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	// Action is uploaded, replaced, present (the same bytes were already
	// there), verified (no file given; the broker's copy matches the
	// manifest), or with --dry-run: would upload, would replace.
	Action string `json:"action"`
	// BlockSize and Blocks describe an artifact published in blocks.
	BlockSize int64 `json:"blockSize,omitempty"`
	Blocks    int   `json:"blocks,omitempty"`
	// Whole says that, with blocks, the whole artifact is retained at
	// Topic too (for devices that do not know blocks): every endpoint must
	// then hold it as well.
	Whole bool `json:"-"`
}

// TargetResult is what happened on one desired topic.
type TargetResult struct {
	Kind  protocol.TargetKind `json:"kind"`
	Name  string              `json:"name,omitempty"`
	Topic string              `json:"topic"`
	// Previous is the sequence number retained there before, 0 for none.
	Previous int64 `json:"previousSequence,omitempty"`
	// Action is published, unchanged (this release was already there),
	// would publish, refused, superseded or replaced, or, in a run that
	// stopped part-way, failed (Error says why), interrupted or not
	// published (the Action constants of unpublish.go); for Unpublish one
	// of those constants.
	Action string `json:"action"`
	// Encoding is, for Unpublish, the encoding of the empty manifest
	// published (or that would be, or was there already).
	Encoding string `json:"encoding,omitempty"`
	// Restored says this run published its release there again because a
	// concurrent publish of a lower sequence had replaced it.
	Restored bool `json:"restored,omitempty"`
	// Error says why, when Action is failed (publishing or unpublishing
	// there failed).
	Error string `json:"error,omitempty"`
}

// CatalogResult is what happened to the catalog entry.
type CatalogResult struct {
	Topic  string `json:"topic"`
	Action string `json:"action"` // recorded, unchanged, would record
}

// DesiredPayload is the manifest as published: the file's own bytes when
// they already are the chosen encoding, else the manifest re-encoded.
func DesiredPayload(m *release.Manifest, file []byte, encoding string) ([]byte, error) {
	isJSON := bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(bytes.TrimLeft(file, " \t\r\n"), []byte("\xef\xbb\xbf")), " \t\r\n"), []byte("{"))
	if encoding == "json" && isJSON {
		return file, nil
	}
	return Encode(m, encoding)
}

// Encode encodes m as cbor, or else as JSON.
func Encode(m *release.Manifest, encoding string) ([]byte, error) {
	if encoding == "cbor" {
		return release.EncodeCBOR(m)
	}
	return release.EncodeJSON(m)
}

// MatchFiles pairs artifact files (and the files of dir) with m's
// components, and fails (wrapping release.ErrVerification) on a file that
// does not match its component. It returns package -> file.
func MatchFiles(ctx context.Context, m *release.Manifest, files []string, dir string) (map[string]string, error) {
	out := map[string]string{}
	if len(files) == 0 && dir == "" {
		return out, nil
	}
	matches, err := release.MatchArtifacts(ctx, m, files, dir)
	if err != nil {
		return nil, err
	}
	if problems := release.ArtifactProblems(m, matches, false); len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", release.ErrVerification, strings.Join(problems, "; "))
	}
	for _, a := range matches {
		if a.Package != "" && a.OK {
			out[a.Package] = a.Path
		}
	}
	return out, nil
}

// ReadManifest reads and parses the desired manifest retained on topic.
// found is set when something is retained there, even when it does not
// parse (then the bytes are returned with the error).
func ReadManifest(ctx context.Context, r RetainedReader, topic string) (m *release.Manifest, payload []byte, found bool, err error) {
	b, found, err := r.ReadRetained(ctx, topic)
	if err != nil || !found {
		return nil, nil, false, err
	}
	m, err = release.Parse(b)
	if err != nil {
		return nil, b, true, fmt.Errorf("%s: %w", topic, err)
	}
	return m, b, true, nil
}
