package release

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The codes of the device-compatibility lint's findings
// (docs/protocol.md#limits).
const (
	LintComponents    = "sdk-components"
	LintPackageLength = "sdk-package-length"
	LintVersionLength = "sdk-version-length"
	LintURILength     = "sdk-uri-length"
	LintSequence      = "sdk-sequence-int32"
	LintReportBuffer  = "sdk-report-buffer"
)

// Limits of the Golioth firmware SDK on its default settings
// (src/ota.c).
const (
	// SDKMaxComponents is GOLIOTH_OTA_MAX_NUM_COMPONENTS: a manifest with
	// more components is rejected whole.
	SDKMaxComponents = 1
	// SDKMaxURILen is the component uri buffer: package and version
	// lengths plus 7.
	SDKMaxURILen = 2*SDKNameLen + 7
	// SDKReportBuffer is the size of the buffer the SDK encodes a state
	// report into; a report that does not fit is not sent at all.
	SDKReportBuffer = 64
	// SDKReportChars is how many characters of package, current and
	// target version together fit SDKReportBuffer when each is shorter
	// than 24 characters.
	SDKReportChars = 45
)

// Finding is one thing in a manifest that devices on the Golioth firmware
// SDK's default settings would refuse or misread.
type Finding struct {
	// Code names the kind of finding (LintComponents...).
	Code    string `json:"code"`
	Message string `json:"message"`
	// Package is the component the finding is about; "" for the whole
	// manifest.
	Package string `json:"package,omitempty"`
	// Reads is the value a device will read, per encoding ("cbor",
	// "json"), when it differs from the value sent.
	Reads map[string]string `json:"reads,omitempty"`
}

// String is the finding as one line: its code, then its message.
func (f Finding) String() string { return f.Code + ": " + f.Message }

// Lint lists what devices on the Golioth firmware SDK's default settings
// would refuse or misread in m: more components than the SDK takes, names
// and uris longer than its buffers, a sequence number past int32, and a
// package and version whose state reports do not fit the SDK's report
// buffer. It returns nil when there is nothing to say.
func Lint(m *Manifest) []Finding {
	var out []Finding
	if len(m.Components) > SDKMaxComponents {
		out = append(out, Finding{Code: LintComponents, Message: fmt.Sprintf(
			"the release has %d components: the Golioth device SDK accepts %d by default (GOLIOTH_OTA_MAX_NUM_COMPONENTS) and rejects a manifest with more as a whole",
			len(m.Components), SDKMaxComponents)})
	}
	for _, c := range m.Components {
		out = append(out, lintComponent(c)...)
	}
	if m.SequenceNumber > math.MaxInt32 {
		wrapped := strconv.FormatInt(int64(int32(m.SequenceNumber)), 10)
		capped := strconv.FormatInt(math.MaxInt32, 10)
		out = append(out, Finding{Code: LintSequence, Message: fmt.Sprintf(
			"sequenceNumber %d is above %d: the Golioth device SDK stores it as int32, so a device reading CBOR (the current SDK) reads %s, and one reading JSON (SDK v0.7.0 and earlier) reads %s",
			m.SequenceNumber, math.MaxInt32, wrapped, capped),
			Reads: map[string]string{"cbor": wrapped, "json": capped}})
	}
	return out
}

func lintComponent(c Component) []Finding {
	var out []Finding
	add := func(code, format string, args ...any) {
		out = append(out, Finding{Code: code, Package: c.Package, Message: fmt.Sprintf(format, args...)})
	}
	if len(c.Package) > SDKNameLen {
		add(LintPackageLength, "package %s is %d characters: the Golioth device SDK's default buffers hold %d, so devices on default settings reject the manifest",
			c.Package, len(c.Package), SDKNameLen)
	}
	if len(c.Version) > SDKNameLen {
		add(LintVersionLength, "version %s of %s is %d characters: the Golioth device SDK's default buffers hold %d, so devices on default settings reject the manifest",
			c.Version, c.Package, len(c.Version), SDKNameLen)
	}
	if len(c.URI) > SDKMaxURILen && len(c.Package) <= SDKNameLen && len(c.Version) <= SDKNameLen {
		add(LintURILength, "uri %s of %s is %d characters: the Golioth device SDK's default buffer holds %d, so devices on default settings reject the manifest",
			c.URI, c.Package, len(c.URI), SDKMaxURILen)
	}
	// The device's current version is unknown here: one updating from a
	// version as long as the target is the case every fleet meets.
	if n := ReportSize(c.Package, c.Version, c.Version); n > SDKReportBuffer {
		add(LintReportBuffer, "package %s at version %s: a device updating from a version as long as %s has a state report of %d bytes (%d characters of package and both versions), more than the Golioth device SDK's %d-byte report buffer holds (%d characters), so it sends no report at all (GOLIOTH_ERR_MEM_ALLOC) and never reports downloading, failure or success",
			c.Package, c.Version, c.Version, n, len(c.Package)+2*len(c.Version), SDKReportBuffer, SDKReportChars)
	}
	return out
}

// ReportSize is the size in bytes of the state report the Golioth device
// SDK encodes for package, current and target version: an indefinite CBOR
// map of "s" and "r" (small numbers), "pkg", and "v" and "t" when not
// empty. The SDK sends nothing when it exceeds SDKReportBuffer.
func ReportSize(pkg, current, target string) int {
	n := 1 + 3 + 3 + 4 + cborTextSize(pkg) + 1 // map start, s, r, "pkg" and its value, map end
	for _, v := range []string{current, target} {
		if v != "" {
			n += 2 + cborTextSize(v)
		}
	}
	return n
}

// cborTextSize is the encoded size of a CBOR text string of s.
func cborTextSize(s string) int {
	switch n := len(s); {
	case n < 24:
		return 1 + n
	case n < 1<<8:
		return 2 + n
	case n < 1<<16:
		return 3 + n
	default:
		return 5 + n
	}
}

// LintError is a command refused in strict mode because of the lint's
// findings.
type LintError struct{ Findings []Finding }

func (e *LintError) Error() string {
	lines := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		lines[i] = f.String()
	}
	what := "a device-compatibility finding"
	if len(e.Findings) > 1 {
		what = fmt.Sprintf("%d device-compatibility findings", len(e.Findings))
	}
	return fmt.Sprintf("strict mode refuses a release with %s: %s", what, strings.Join(lines, "; "))
}

// Hint says how to go on.
func (e *LintError) Hint() string {
	return "fix the release for devices on the Golioth firmware SDK, or, if none of your devices run it, leave strict mode: drop --strict, unset OTACTL_STRICT, or 'otactl config set strict false'"
}

// CheckStrict is strict mode's rule: with strict, any finding refuses the
// command (a *LintError); without, findings are only warnings.
func CheckStrict(findings []Finding, strict bool) error {
	if strict && len(findings) > 0 {
		return &LintError{Findings: findings}
	}
	return nil
}

// LintStrict lints m and applies strict mode's rule to the findings.
func LintStrict(m *Manifest, strict bool) ([]Finding, error) {
	f := Lint(m)
	return f, CheckStrict(f, strict)
}
