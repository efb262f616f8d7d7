package release

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/otactl/otactl/internal/hint"
	"github.com/otactl/otactl/internal/regularfile"
)

// CreateOptions says what goes into a new release.
type CreateOptions struct {
	Specs       []Spec
	DefaultType string // type of components whose spec names none; "" for none
	// Sequence is the sequenceNumber; 0 means Now in Unix seconds.
	Sequence int64
	// Now is the creation time (zero: the current time). Commands pass
	// their injected clock, and SOURCE_DATE_EPOCH when set.
	Now time.Time
	// Expires is "" (never), a duration after Now ("720h", "90m", and
	// also "30d" for days), or an RFC 3339 time.
	Expires string
	// AllowVersionMismatch lets a spec's version differ from the version in
	// the file's MCUboot header.
	AllowVersionMismatch bool
	// BuildNumber says how an MCUboot header's build number enters a
	// version taken from it; "" is BuildDrop.
	BuildNumber BuildNumber
	// Strict refuses a release the device-compatibility lint (Lint) has
	// findings about, with a *LintError.
	Strict bool
}

// UsageError is a value of CreateOptions that cannot be used as it was
// given: an expiry that does not read or is not after the creation time,
// a bad default type. It is the caller's input, not a file's: the command
// line maps it to a usage error (exit 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Create hashes the files of opts.Specs in parallel and returns the sealed,
// unsigned manifest, with warnings for the operator (among them the
// findings of Lint, which refuse it with opts.Strict). It refuses bad names, a package named twice, an
// empty file (an empty retained message deletes the topic, so it could
// never be downloaded), and an MCUboot image whose header version differs
// from the version given: devices report the version of the image they run
// and would update forever. A spec without a version takes it from the
// MCUboot header.
func Create(ctx context.Context, opts CreateOptions) (*Manifest, []string, error) {
	if len(opts.Specs) == 0 {
		return nil, nil, errors.New("no components: give at least one PACKAGE@VERSION=FILE")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	m := &Manifest{SequenceNumber: opts.Sequence}
	if m.SequenceNumber == 0 {
		m.SequenceNumber = now.Unix()
	}
	if m.SequenceNumber < 0 {
		return nil, nil, fmt.Errorf("sequence number %d is negative: it must be a positive integer", m.SequenceNumber)
	}
	if opts.Expires != "" {
		exp, err := ExpiryTime(opts.Expires, now)
		if err != nil {
			return nil, nil, &UsageError{Err: err}
		}
		m.Expires = exp.Format(time.RFC3339)
	}
	if opts.DefaultType != "" {
		if err := ValidateType(opts.DefaultType); err != nil {
			return nil, nil, &UsageError{Err: err}
		}
	}
	seen := map[string]string{}
	paths := make([]string, len(opts.Specs))
	for i, s := range opts.Specs {
		if err := ValidatePackage(s.Package); err != nil {
			return nil, nil, err
		}
		if s.Version != "" {
			if err := ValidateVersion(s.Version); err != nil {
				return nil, nil, err
			}
		}
		if s.Type != "" {
			if err := ValidateType(s.Type); err != nil {
				return nil, nil, err
			}
		}
		if s.Path == "" {
			return nil, nil, fmt.Errorf("component %s: no file", s.Package)
		}
		if prev, ok := seen[s.Package]; ok {
			return nil, nil, fmt.Errorf("package %s is given twice (%s and %s): a release holds each package once", s.Package, prev, s.Path)
		}
		seen[s.Package] = s.Path
		paths[i] = s.Path
	}

	var warnings []string
	for i := range opts.Specs {
		s := &opts.Specs[i]
		w, err := checkImageVersion(s, opts.BuildNumber, opts.AllowVersionMismatch)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, w...)
	}

	hashes, err := HashFiles(ctx, paths)
	if err != nil {
		return nil, nil, err
	}
	for i, s := range opts.Specs {
		h := hashes[i]
		if h.Size == 0 {
			return nil, nil, fmt.Errorf("component %s: %s is empty: an empty retained message deletes the topic, so devices could never download it", s.Package, s.Path)
		}
		t := s.Type
		if t == "" {
			t = opts.DefaultType
		}
		m.Components = append(m.Components, Component{
			Package: s.Package,
			Version: s.Version,
			Hash:    h.Hash,
			Size:    h.Size,
			URI:     ComponentURI(s.Package, s.Version),
			Type:    t,
		})
	}
	m.Seal()
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	findings, err := LintStrict(m, opts.Strict)
	if err != nil {
		return nil, warnings, err
	}
	for _, f := range findings {
		warnings = append(warnings, f.String())
	}
	return m, warnings, nil
}

// checkImageVersion reads the MCUboot header of s.Path, fills in a missing
// version from it (its build number mapped by build) and refuses a version
// that differs from it.
func checkImageVersion(s *Spec, build BuildNumber, allowMismatch bool) ([]string, error) {
	// A FIFO or device node is refused here, before anything is hashed,
	// and without blocking on it.
	f, err := regularfile.Open(s.Path)
	if err != nil {
		return nil, fmt.Errorf("component %s: %w", s.Package, err)
	}
	defer f.Close()
	h, ok, err := ReadImageHeader(f)
	if err != nil {
		return nil, fmt.Errorf("component %s: %s: %w", s.Package, s.Path, err)
	}
	if !ok {
		if s.Version == "" {
			return nil, hint.Wrap(
				fmt.Errorf("component %s: no version given and %s is not an MCUboot image to read it from", s.Package, s.Path),
				fmt.Sprintf("give the version: %s@VERSION=%s", s.Package, s.Path))
		}
		return nil, nil
	}
	if s.Version == "" {
		s.Version = h.VersionWith(build)
		if err := ValidateVersion(s.Version); err != nil {
			return nil, err
		}
		if h.Build != 0 && build != BuildDot {
			return []string{fmt.Sprintf("component %s: the MCUboot header of %s says %s: published as %s without the build number, the version Zephyr and the Golioth SDK's samples report (a version never holds '+'); if your devices report the build number too, use --build-number dot (%s)",
				s.Package, s.Path, h.Version(), s.Version, h.VersionWith(BuildDot))}, nil
		}
		return nil, nil
	}
	if s.Version == h.ShortVersion() || s.Version == h.VersionWith(BuildDot) {
		return nil, nil
	}
	if allowMismatch {
		return []string{fmt.Sprintf("component %s: version %s differs from the MCUboot image version %s of %s; devices that report %s will download it again and again",
			s.Package, s.Version, h.Version(), s.Path, h.VersionWith(build))}, nil
	}
	return nil, hint.Wrap(
		fmt.Errorf("component %s: version %s differs from the version %s in the MCUboot header of %s: devices report the version of the image they run, so they would never see %s and would update forever",
			s.Package, s.Version, h.Version(), s.Path, s.Version),
		fmt.Sprintf("use %s@%s=%s, rebuild the image with the right version, or pass --allow-version-mismatch if the device reports a version of its own", s.Package, h.VersionWith(build), s.Path))
}

// ExpiryTime reads an expiry: a duration after now ("720h", "90m", or whole
// days "30d") or an RFC 3339 time. The result is UTC, truncated to whole
// seconds, and must be after now.
func ExpiryTime(s string, now time.Time) (time.Time, error) {
	var t time.Time
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && !strings.ContainsAny(days, "hmsuµn.") {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}, fmt.Errorf("expiry %q: want a positive number of days, a duration like 720h or an RFC 3339 time", truncate(s))
		}
		if n > math.MaxInt64/int64(24*time.Hour) {
			return time.Time{}, fmt.Errorf("expiry %q is too far away: give an RFC 3339 time", truncate(s))
		}
		t = now.Add(time.Duration(n) * 24 * time.Hour)
	} else if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("expiry %q: the duration must be positive", s)
		}
		t = now.Add(d)
	} else if p, err := time.Parse(time.RFC3339, s); err == nil {
		t = p
	} else {
		return time.Time{}, fmt.Errorf("expiry %q: want a duration like 720h or 30d, or an RFC 3339 time like 2026-12-27T23:22:22Z", truncate(s))
	}
	t = t.UTC().Truncate(time.Second)
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("expiry %s is not after the creation time %s", t.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return t, nil
}
