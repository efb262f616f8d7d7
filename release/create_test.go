package release

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

var createNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// mcubootImage is a small image with an MCUboot header of the given version.
func mcubootImage(major, minor uint8, rev uint16, build uint32) []byte {
	body := bytes.Repeat([]byte("firmware"), 64)
	h := ImageHeader{LoadAddr: 0, HeaderSize: 0x20, ImageSize: uint32(len(body)), Major: major, Minor: minor, Revision: rev, Build: build}
	return append(EncodeImageHeader(h), body...)
}

func specs(t *testing.T, s ...string) []Spec {
	t.Helper()
	var out []Spec
	for _, x := range s {
		sp, err := ParseSpec(x)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sp)
	}
	return out
}

func TestCreateGolden(t *testing.T) {
	dir := t.TempDir()
	main := writeFile(t, dir, "zephyr.signed.bin", mcubootImage(1, 2, 3, 0))
	modem := writeFile(t, dir, "modem.bin", []byte("modem firmware 2.0.1\n"))
	opts := CreateOptions{
		Specs:       specs(t, "modem@2.0.1="+modem+",type=modem", "main@1.2.3="+main),
		DefaultType: "mcuboot",
		Now:         createNow,
		Expires:     "720h",
	}
	m, warnings, err := Create(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if m.SequenceNumber != createNow.Unix() || m.Expires != "2026-01-31T00:00:00Z" {
		t.Errorf("sequence %d expires %q", m.SequenceNumber, m.Expires)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "GOLIOTH_OTA_MAX_NUM_COMPONENTS") {
		t.Errorf("warnings = %q", warnings)
	}
	if err := m.Validate(); err != nil || m.Hash != m.DigestHex() || len(m.Signatures) != 0 {
		t.Errorf("not a sealed unsigned manifest: %v %+v", err, m)
	}
	j, c := encodings(t, m)
	golden(t, "create.json.golden", j)
	golden(t, "create.cbor.hex.golden", []byte(hex.EncodeToString(c)+"\n"))

	// The same inputs, given in another order, give the same bytes.
	opts.Specs[0], opts.Specs[1] = opts.Specs[1], opts.Specs[0]
	again, _, err := Create(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	j2, c2 := encodings(t, again)
	if !bytes.Equal(j, j2) || !bytes.Equal(c, c2) {
		t.Error("two runs with the same inputs gave different bytes")
	}
}

func TestCreateMCUbootVersions(t *testing.T) {
	dir := t.TempDir()
	img := writeFile(t, dir, "app.bin", mcubootImage(1, 2, 3, 0))
	imgBuild := writeFile(t, dir, "app-build.bin", mcubootImage(1, 2, 3, 4))
	plain := writeFile(t, dir, "plain.bin", []byte("no header here"))
	tests := []struct {
		name        string
		spec        string
		allow       bool
		wantVersion string
		wantWarning string
		wantErr     string
		wantHint    string
	}{
		{"same version", "main@1.2.3=" + img, false, "1.2.3", "", "", ""},
		{"version from header", "main=" + img, false, "1.2.3", "", "", ""},
		{"version with build from header", "main=" + imgBuild, false, "1.2.3", "says 1.2.3+4: published as 1.2.3 without the build number", "", ""},
		{"short version of an image with build", "main@1.2.3=" + imgBuild, false, "1.2.3", "", "", ""},
		{"dotted version of an image with build", "main@1.2.3.4=" + imgBuild, false, "1.2.3.4", "", "", ""},
		{"mismatch", "main@1.2.4=" + img, false, "", "", "version 1.2.4 differs from the version 1.2.3 in the MCUboot header", "use main@1.2.3="},
		{"mismatch allowed", "main@1.2.4=" + img, true, "1.2.4", "devices that report 1.2.3 will download it again and again", "", ""},
		{"other build", "main@1.2.3.5=" + imgBuild, false, "", "", "would update forever", ""},
		{"plain file with version", "main@7=" + plain, false, "7", "", "", ""},
		{"plain file without version", "main=" + plain, false, "", "", "is not an MCUboot image", "main@VERSION="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, warnings, err := Create(context.Background(), CreateOptions{Specs: specs(t, tt.spec), Now: createNow, AllowVersionMismatch: tt.allow})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if errors.Is(err, ErrVerification) {
					t.Error("a version mismatch is an input error, not a verification failure")
				}
				var h interface{ Hint() string }
				if !errors.As(err, &h) || !strings.Contains(h.Hint(), tt.wantHint) {
					t.Errorf("hint missing or without %q: %v", tt.wantHint, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := m.Components[0]
			if c.Version != tt.wantVersion || c.URI != ComponentURI("main", tt.wantVersion) {
				t.Errorf("component %+v, want version %s", c, tt.wantVersion)
			}
			joined := strings.Join(warnings, "\n")
			if tt.wantWarning == "" && joined != "" || !strings.Contains(joined, tt.wantWarning) {
				t.Errorf("warnings %q, want %q", warnings, tt.wantWarning)
			}
		})
	}
}

func TestCreateRefuses(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.bin", []byte("a"))
	empty := writeFile(t, dir, "empty.bin", nil)
	broken := writeFile(t, dir, "broken.bin", EncodeImageHeader(ImageHeader{HeaderSize: 0x200})[:12])
	tests := []struct {
		name string
		opts CreateOptions
		want string
	}{
		{"no specs", CreateOptions{}, "no components"},
		{"empty file", CreateOptions{Specs: specs(t, "a@1="+empty)}, "is empty: an empty retained message deletes the topic"},
		{"missing file", CreateOptions{Specs: specs(t, "a@1="+dir+"/nope")}, "no such file"},
		{"folder", CreateOptions{Specs: specs(t, "a@1="+dir)}, "not a regular file"},
		{"twice", CreateOptions{Specs: specs(t, "a@1="+a, "a@2="+a)}, "package a is given twice"},
		{"bad package", CreateOptions{Specs: []Spec{{Package: "a b", Version: "1", Path: a}}}, "invalid package"},
		{"bad version", CreateOptions{Specs: []Spec{{Package: "a", Version: "1/2", Path: a}}}, "invalid version"},
		{"bad type", CreateOptions{Specs: []Spec{{Package: "a", Version: "1", Path: a, Type: "x y"}}}, "invalid type"},
		{"bad default type", CreateOptions{Specs: specs(t, "a@1="+a), DefaultType: "-"}, "invalid type"},
		{"no path", CreateOptions{Specs: []Spec{{Package: "a", Version: "1"}}}, "no file"},
		{"negative sequence", CreateOptions{Specs: specs(t, "a@1="+a), Sequence: -1}, "negative"},
		{"bad expiry", CreateOptions{Specs: specs(t, "a@1="+a), Expires: "soon"}, "expiry"},
		{"broken MCUboot header", CreateOptions{Specs: specs(t, "a@1="+broken)}, "cut short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Now = createNow
			m, _, err := Create(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Create = %+v, %v; want error %q", m, err, tt.want)
			}
		})
	}
}

func TestCreateSequenceAndType(t *testing.T) {
	a := writeFile(t, t.TempDir(), "a.bin", []byte("a"))
	m, warnings, err := Create(context.Background(), CreateOptions{Specs: specs(t, "a@1="+a), Sequence: 7, Now: createNow})
	if err != nil {
		t.Fatal(err)
	}
	if m.SequenceNumber != 7 || m.Components[0].Type != "" || m.Expires != "" || len(warnings) != 0 {
		t.Errorf("manifest %+v warnings %q", m, warnings)
	}
	if _, _, err := Create(context.Background(), CreateOptions{Specs: specs(t, "a@1="+a)}); err != nil {
		t.Errorf("zero Now: %v", err)
	}
}

func TestExpiryTime(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"720h", "2026-01-31T00:00:00Z", ""},
		{"90m", "2026-01-01T01:30:00Z", ""},
		{"1h0.5s", "2026-01-01T01:00:00Z", ""},
		{"30d", "2026-01-31T00:00:00Z", ""},
		{"2026-12-27T23:22:22Z", "2026-12-27T23:22:22Z", ""},
		{"2026-12-27T23:22:22.999+01:00", "2026-12-27T22:22:22Z", ""},
		{"0s", "", "must be positive"},
		{"-1h", "", "must be positive"},
		{"0d", "", "positive number of days"},
		{"1.5d", "", "want a duration"},
		{"d", "", "want a duration"},
		{"soon", "", "want a duration"},
		{"2025-12-31T00:00:00Z", "", "is not after the creation time 2026-01-01T00:00:00Z"},
		{"2026-01-01T00:00:00.5Z", "", "is not after"},
		{"99999999d", "", "too far away"},
	}
	for _, tt := range tests {
		got, err := ExpiryTime(tt.in, createNow)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ExpiryTime(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got.Format(time.RFC3339) != tt.want || got.Location() != time.UTC {
			t.Errorf("ExpiryTime(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// TestCreateMCUbootBuildNumber: an image with a build number gives a
// version that can be published, by default without the build number,
// with --build-number dot as a fourth number; a version with '+' given by
// hand is refused before anything is read.
func TestCreateMCUbootBuildNumber(t *testing.T) {
	dir := t.TempDir()
	imgBuild := writeFile(t, dir, "app-build.bin", mcubootImage(1, 2, 3, 4))
	img := writeFile(t, dir, "app.bin", mcubootImage(1, 2, 3, 0))
	for _, tt := range []struct {
		path string
		b    BuildNumber
		want string
	}{{imgBuild, "", "1.2.3"}, {imgBuild, BuildDrop, "1.2.3"}, {imgBuild, BuildDot, "1.2.3.4"}, {img, BuildDot, "1.2.3.0"}} {
		m, _, err := Create(context.Background(), CreateOptions{Specs: specs(t, "main="+tt.path), Now: createNow, BuildNumber: tt.b})
		if err != nil {
			t.Fatal(err)
		}
		if c := m.Components[0]; c.Version != tt.want || c.URI != "/.u/c/main@"+tt.want {
			t.Errorf("%s with %q: component %+v, want version %s", tt.path, tt.b, c, tt.want)
		}
	}
	_, err := ParseSpec("main@1.2.3+4=" + imgBuild)
	if err == nil || !strings.Contains(err.Error(), `invalid version "1.2.3+4": '+' is not allowed`) || !strings.Contains(err.Error(), "(1.2.3) or join it with '.' (1.2.3.4)") {
		t.Errorf("ParseSpec with '+' = %v", err)
	}
	_, _, err = Create(context.Background(), CreateOptions{Specs: []Spec{{Package: "main", Version: "1.2.3+4", Path: imgBuild}}, Now: createNow})
	if err == nil || !strings.Contains(err.Error(), "'+' is not allowed") {
		t.Errorf("Create with '+' = %v", err)
	}
}

// TestCreateStrict: Create lists the lint's findings among its warnings,
// and refuses the release with them in strict mode.
func TestCreateStrict(t *testing.T) {
	a := writeFile(t, t.TempDir(), "a.bin", []byte("a"))
	opts := CreateOptions{Specs: specs(t, "main@1.0.0="+a), Now: createNow, Sequence: 3000000000}
	m, warnings, err := Create(context.Background(), opts)
	if err != nil || m == nil || len(warnings) != 1 || !strings.HasPrefix(warnings[0], LintSequence+": ") {
		t.Fatalf("Create = %v, %q, %v; want the sequence finding as a warning", m, warnings, err)
	}
	opts.Strict = true
	m, _, err = Create(context.Background(), opts)
	var le *LintError
	if m != nil || !errors.As(err, &le) || len(le.Findings) != 1 || le.Findings[0].Code != LintSequence {
		t.Fatalf("strict Create = %v, %v; want a LintError", m, err)
	}
	opts.Sequence = 1000
	if _, warnings, err := Create(context.Background(), opts); err != nil || len(warnings) != 0 {
		t.Errorf("strict Create of a clean release = %q, %v", warnings, err)
	}
}
