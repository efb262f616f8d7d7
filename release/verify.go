package release

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/regularfile"
)

// VerifyOptions says what Verify checks beyond the manifest's own form.
type VerifyOptions struct {
	// Keys are the trusted public keys.
	Keys []crypto.PublicKey
	// Threshold is how many distinct trusted keys must have signed; 0 means
	// 1 when Keys is not empty, else none.
	Threshold int
	// At is the time the expiry is checked against; zero means now.
	At time.Time
	// Artifacts are files to check against the components: "FILE",
	// "PACKAGE=FILE" or "PACKAGE@VERSION=FILE" (see MatchArtifacts).
	Artifacts []string
	// ArtifactsDir is a folder holding a file for every component.
	ArtifactsDir string
}

// Signature statuses in a Verdict.
const (
	SigValid      = "valid"       // a trusted key signed it
	SigInvalid    = "invalid"     // a trusted key's id, but the signature does not verify
	SigUnknownKey = "unknown key" // no trusted key has this id: listed, not a failure
)

// SignatureCheck is what Verify found about one signature.
type SignatureCheck struct {
	KeyID  string `json:"keyid"`
	Alg    string `json:"alg"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Verdict is the outcome of Verify, printed by `release verify -o json`.
type Verdict struct {
	OK             bool   `json:"ok"`
	SequenceNumber int64  `json:"sequenceNumber"`
	Hash           string `json:"hash"`   // the manifest's hash field
	Digest         string `json:"digest"` // the release digest recomputed
	// DigestOK says hash equals digest.
	DigestOK        bool             `json:"digestOk"`
	Signatures      []SignatureCheck `json:"signatures"`
	ValidSignatures int              `json:"validSignatures"` // distinct trusted keys with a valid signature
	Threshold       int              `json:"threshold"`
	Expires         string           `json:"expires,omitempty"`
	Expired         bool             `json:"expired"`
	CheckedAt       string           `json:"checkedAt"` // the time expiry was checked against, RFC 3339 UTC
	Artifacts       []ArtifactMatch  `json:"artifacts"`
	Problems        []string         `json:"problems"`
	// readErr kept an artifact file from being read: the verdict is
	// incomplete, an error of input rather than a failed verification.
	readErr error
}

// Verify checks m: its form (Validate), that hash is the release digest,
// that Threshold distinct trusted keys signed it, that it has not expired at
// At (expired when At >= expires) and that the artifacts match their
// components. It never stops at the first problem: the verdict lists them
// all.
func Verify(ctx context.Context, m *Manifest, opts VerifyOptions) Verdict {
	at := opts.At
	if at.IsZero() {
		at = time.Now()
	}
	v := Verdict{
		SequenceNumber: m.SequenceNumber,
		Hash:           m.Hash,
		Digest:         m.DigestHex(),
		Signatures:     []SignatureCheck{},
		Expires:        m.Expires,
		CheckedAt:      at.UTC().Format(time.RFC3339),
		Artifacts:      []ArtifactMatch{},
		Problems:       []string{},
	}
	problem := func(format string, args ...any) { v.Problems = append(v.Problems, fmt.Sprintf(format, args...)) }
	v.Problems = append(v.Problems, m.problems()...)

	v.DigestOK = m.Hash == v.Digest
	if !v.DigestOK {
		problem("hash %s is not the release digest %s: the manifest was changed after it was sealed", truncate(m.Hash), v.Digest)
	}

	// Trusted keys by id; the same key given twice counts once.
	trusted := map[string]crypto.PublicKey{}
	for _, k := range opts.Keys {
		id, err := KeyID(k)
		if err != nil {
			problem("trusted key: %v", err)
			continue
		}
		trusted[id] = k
	}
	v.Threshold = opts.Threshold
	if v.Threshold == 0 && len(trusted) > 0 {
		v.Threshold = 1
	}
	digest := m.Digest()
	validBy := map[string]bool{}
	for _, s := range m.Signatures {
		c := SignatureCheck{KeyID: s.KeyID, Alg: s.Alg}
		k, ok := trusted[s.KeyID]
		switch {
		case !ok:
			c.Status = SigUnknownKey
		case validBy[s.KeyID]:
			c.Status = SigValid
			c.Detail = "the same key signed again; counted once"
		default:
			if err := VerifySignature(k, digest, s); err != nil {
				c.Status = SigInvalid
				c.Detail = strings.TrimPrefix(err.Error(), ErrVerification.Error()+": ")
				problem("%s", c.Detail)
			} else {
				c.Status = SigValid
				validBy[s.KeyID] = true
			}
		}
		v.Signatures = append(v.Signatures, c)
	}
	v.ValidSignatures = len(validBy)
	switch {
	case v.Threshold < 0:
		problem("threshold %d is negative", v.Threshold)
	case v.Threshold > len(trusted):
		problem("threshold %d is more than the %d trusted keys given", v.Threshold, len(trusted))
	case v.ValidSignatures < v.Threshold:
		if len(m.Signatures) == 0 {
			problem("the manifest is not signed: %d valid signatures needed", v.Threshold)
		} else {
			problem("%d valid signatures by trusted keys, %d needed", v.ValidSignatures, v.Threshold)
		}
	}

	if exp, ok := m.ExpiresAt(); ok && !at.Before(exp) {
		v.Expired = true
		problem("expired at %s (checked at %s)", m.Expires, v.CheckedAt)
	}

	if len(opts.Artifacts) > 0 || opts.ArtifactsDir != "" {
		matches, err := MatchArtifacts(ctx, m, opts.Artifacts, opts.ArtifactsDir)
		if err != nil {
			problem("artifacts: %v", err)
			if isReadError(err) {
				v.readErr = err
			}
		} else {
			v.Artifacts = matches
			v.Problems = append(v.Problems, ArtifactProblems(m, matches, opts.ArtifactsDir != "")...)
		}
	}
	v.OK = len(v.Problems) == 0
	return v
}

// Err is nil when the verdict is OK, else an error wrapping ErrVerification
// that names every problem; or, when an artifact file could not be read,
// that error (not a verification failure: the verdict is incomplete).
func (v Verdict) Err() error {
	if v.readErr != nil {
		return fmt.Errorf("artifacts: %w", v.readErr)
	}
	if v.OK && len(v.Problems) == 0 {
		return nil
	}
	if len(v.Problems) == 0 {
		return ErrVerification
	}
	return fmt.Errorf("%w: %s", ErrVerification, strings.Join(v.Problems, "; "))
}

// isReadError says whether err is a file that could not be read (missing,
// unreadable, not a regular file, too large) rather than a mismatch.
func isReadError(err error) bool {
	var pathErr *fs.PathError
	var notRegular *regularfile.NotRegularError
	var tooLarge *regularfile.TooLargeError
	return errors.As(err, &pathErr) || errors.As(err, &notRegular) || errors.As(err, &tooLarge)
}

// How an artifact was paired with its component.
const (
	ByExplicit = "explicit" // PACKAGE=FILE or PACKAGE@VERSION=FILE
	BySingle   = "single"   // the only file for the only component
	ByName     = "name"     // the file is named PACKAGE@VERSION[.ext] or PACKAGE[.ext]
	ByContent  = "content"  // the file's size and hash equal the component's
	ByDir      = "dir"      // found by name in the artifacts folder
)

// ArtifactMatch is one file checked against a component.
type ArtifactMatch struct {
	Path    string `json:"path"`
	Package string `json:"package,omitempty"` // the component it was paired with; "" when none
	Version string `json:"version,omitempty"` // the version the argument named, else the component's
	By      string `json:"by,omitempty"`
	Hash    string `json:"sha256"`
	Size    int64  `json:"size"`
	OK      bool   `json:"ok"` // paired, and version, size and hash equal the component's
	Problem string `json:"problem,omitempty"`
}

// MatchArtifacts pairs files with m's components and hashes them in
// parallel. Each entry of files is "PACKAGE=FILE", "PACKAGE@VERSION=FILE" or
// a bare "FILE" (a path with '=' in it is written "./a=b.bin": '/' cannot be
// in a package name). A bare file is paired directly when it is the only
// file and m has one component; otherwise by its name,
// PACKAGE@VERSION[.ext] or PACKAGE[.ext]; otherwise by equal size and hash.
// When dir is not empty, each component left unpaired is looked up in it
// and its subfolders (see findInDir). A file that does not
// match its component is not an error: its OK is false and Problem says why
// (see ArtifactProblems). Errors are unreadable files, packages the manifest
// does not hold, two files for one component, and ambiguous names.
func MatchArtifacts(ctx context.Context, m *Manifest, files []string, dir string) ([]ArtifactMatch, error) {
	comp := map[string]*Component{}
	for i := range m.Components {
		comp[m.Components[i].Package] = &m.Components[i]
	}
	matches := make([]ArtifactMatch, 0, len(files))
	for _, f := range files {
		a := ArtifactMatch{Path: f}
		if name, path, ok := strings.Cut(f, "="); ok && !strings.ContainsAny(name, `/\`) {
			pkg, ver, hasVer := strings.Cut(name, "@")
			if err := ValidatePackage(pkg); err != nil {
				return nil, fmt.Errorf("artifact %q: %w", truncate(f), err)
			}
			if hasVer {
				if err := ValidateVersion(ver); err != nil {
					return nil, fmt.Errorf("artifact %q: %w", truncate(f), err)
				}
			}
			if path == "" {
				return nil, fmt.Errorf("artifact %q: no file after '='", truncate(f))
			}
			if comp[pkg] == nil {
				return nil, fmt.Errorf("artifact %q: the manifest has no package %s (it has %s)", truncate(f), pkg, packageList(m))
			}
			a = ArtifactMatch{Path: path, Package: pkg, Version: ver, By: ByExplicit}
		} else if f == "" {
			return nil, errors.New("artifact: empty file name")
		}
		matches = append(matches, a)
	}
	// Bare files: directly, then by name.
	if len(matches) == 1 && len(m.Components) == 1 && matches[0].By == "" {
		matches[0].Package, matches[0].By = m.Components[0].Package, BySingle
	}
	for i := range matches {
		if matches[i].By == "" {
			if c := componentByName(m, filepath.Base(matches[i].Path)); c != nil {
				matches[i].Package, matches[i].By = c.Package, ByName
			}
		}
	}
	if dir != "" {
		found, err := findInDir(ctx, m, dir, paired(matches))
		if err != nil {
			return nil, err
		}
		matches = append(matches, found...)
	}

	paths := make([]string, len(matches))
	for i := range matches {
		paths[i] = matches[i].Path
	}
	hashes, err := HashFiles(ctx, paths)
	if err != nil {
		return nil, err
	}
	for i := range matches {
		matches[i].Hash, matches[i].Size = hashes[i].Hash, hashes[i].Size
	}
	// Still unpaired: by content, preferring components nobody claimed (two
	// packages may ship the same bytes); a file whose bytes are those of a
	// claimed component is a second artifact for it.
	taken := paired(matches)
	for i := range matches {
		a := &matches[i]
		if a.By != "" {
			continue
		}
		for _, free := range []bool{true, false} {
			for _, c := range m.Components {
				if a.By == "" && taken[c.Package] != free && c.Size == a.Size && c.Hash == a.Hash {
					a.Package, a.By = c.Package, ByContent
					taken[c.Package] = true
				}
			}
		}
	}
	// Two files for one component.
	by := map[string]string{}
	for _, a := range matches {
		if a.Package == "" {
			continue
		}
		if prev, ok := by[a.Package]; ok {
			return nil, fmt.Errorf("two artifacts for package %s: %s and %s", a.Package, prev, a.Path)
		}
		by[a.Package] = a.Path
	}
	for i := range matches {
		a := &matches[i]
		c := comp[a.Package]
		switch {
		case c == nil:
			a.Problem = fmt.Sprintf("%s matches no component by name, size or hash", a.Path)
		case a.Version != "" && a.Version != c.Version:
			a.Problem = fmt.Sprintf("%s was given for %s@%s but the manifest has %s@%s", a.Path, a.Package, a.Version, c.Package, c.Version)
		case a.Size != c.Size:
			a.Problem = fmt.Sprintf("%s is %d bytes but component %s is %d", a.Path, a.Size, c.Package, c.Size)
		case a.Hash != c.Hash:
			a.Problem = fmt.Sprintf("%s has sha256 %s but component %s has %s", a.Path, a.Hash, c.Package, truncate(c.Hash))
		}
		if c != nil && a.Version == "" {
			a.Version = c.Version
		}
		a.OK = a.Problem == ""
	}
	return matches, nil
}

// ArtifactProblems lists the artifacts that do not match, and when
// requireAll the components that no artifact was found for.
func ArtifactProblems(m *Manifest, matches []ArtifactMatch, requireAll bool) []string {
	var p []string
	have := map[string]bool{}
	for _, a := range matches {
		if a.Problem != "" {
			p = append(p, a.Problem)
		}
		if a.Package != "" {
			have[a.Package] = true
		}
	}
	if requireAll {
		for _, c := range m.Components {
			if !have[c.Package] {
				p = append(p, fmt.Sprintf("no artifact for component %s@%s in the artifacts folder or its subfolders: %s",
					c.Package, c.Version, LookedFor(c)))
			}
		}
	}
	return p
}

func paired(matches []ArtifactMatch) map[string]bool {
	p := map[string]bool{}
	for _, a := range matches {
		if a.Package != "" {
			p[a.Package] = true
		}
	}
	return p
}

func packageList(m *Manifest) string {
	var names []string
	for _, c := range m.Components {
		names = append(names, c.Package)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// nameRank says how well a file name names c: 2 for PACKAGE@VERSION[.ext],
// 1 for PACKAGE[.ext], 0 not at all.
func nameRank(base string, c *Component) int {
	is := func(stem string) bool {
		return base == stem || strings.HasPrefix(base, stem+".")
	}
	switch {
	case is(c.Package + "@" + c.Version):
		return 2
	case is(c.Package):
		return 1
	}
	return 0
}

// componentByName is the component a file name names, preferring
// PACKAGE@VERSION over PACKAGE and the longest package name ("main.boot.bin"
// names main.boot rather than main).
func componentByName(m *Manifest, base string) *Component {
	var best *Component
	bestRank := 0
	for i := range m.Components {
		c := &m.Components[i]
		r := nameRank(base, c)
		if r == 0 {
			continue
		}
		if r > bestRank || r == bestRank && len(c.Package) > len(best.Package) {
			best, bestRank = c, r
		}
	}
	return best
}
