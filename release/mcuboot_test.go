package release

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestImageHeaderRoundTrip(t *testing.T) {
	h := ImageHeader{LoadAddr: 0x10000, HeaderSize: 0x200, ProtectTLVSize: 0x30, ImageSize: 538208, Flags: 0x10, Major: 1, Minor: 2, Revision: 300, Build: 4}
	b := EncodeImageHeader(h)
	// The layout of MCUboot's struct image_header, little endian.
	want := "3db8f396" + "00000100" + "0002" + "3000" + "60360800" + "10000000" + "01" + "02" + "2c01" + "04000000" + "00000000"
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("encoded %s\nwant    %s", got, want)
	}
	image := append(b, bytes.Repeat([]byte{0xaa}, 480)...)
	got, ok, err := ReadImageHeader(bytes.NewReader(image))
	if err != nil || !ok || got != h {
		t.Errorf("ReadImageHeader = %+v, %v, %v; want %+v", got, ok, err, h)
	}
	if v := got.Version(); v != "1.2.300+4" {
		t.Errorf("Version = %q", v)
	}
	if v := got.ShortVersion(); v != "1.2.300" {
		t.Errorf("ShortVersion = %q", v)
	}
	h.Build = 0
	if v := h.Version(); v != "1.2.300" {
		t.Errorf("Version without build = %q", v)
	}
	h = ImageHeader{HeaderSize: 32, Major: 255, Minor: 255, Revision: 65535, Build: 4294967295}
	if v := h.Version(); v != "255.255.65535+4294967295" {
		t.Errorf("largest version %q", v)
	}
	if v := h.VersionWith(BuildDot); v != "255.255.65535.4294967295" || ValidateVersion(v) != nil {
		t.Errorf("largest version, build dotted: %q", v)
	}
}

// TestVersionWith: a component version from an MCUboot header never holds
// '+': the build number is dropped by default, or made a fourth number.
func TestVersionWith(t *testing.T) {
	tests := []struct {
		h    ImageHeader
		b    BuildNumber
		want string
	}{
		{ImageHeader{Major: 1, Minor: 2, Revision: 3, Build: 4}, "", "1.2.3"},
		{ImageHeader{Major: 1, Minor: 2, Revision: 3, Build: 4}, BuildDrop, "1.2.3"},
		{ImageHeader{Major: 1, Minor: 2, Revision: 3, Build: 4}, BuildDot, "1.2.3.4"},
		{ImageHeader{Major: 1, Minor: 2, Revision: 3}, BuildDrop, "1.2.3"},
		{ImageHeader{Major: 1, Minor: 2, Revision: 3}, BuildDot, "1.2.3.0"},
	}
	for _, tt := range tests {
		got := tt.h.VersionWith(tt.b)
		if got != tt.want || ValidateVersion(got) != nil {
			t.Errorf("%s with %q = %q, want %q", tt.h.Version(), tt.b, got, tt.want)
		}
	}
	for in, want := range map[string]BuildNumber{"": BuildDrop, "drop": BuildDrop, "dot": BuildDot} {
		if got, err := ParseBuildNumber(in); got != want || err != nil {
			t.Errorf("ParseBuildNumber(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseBuildNumber("dash"); err == nil || !strings.Contains(err.Error(), "want drop") {
		t.Errorf("ParseBuildNumber(dash) = %v", err)
	}
}

func TestReadImageHeaderNotMCUboot(t *testing.T) {
	for _, in := range [][]byte{nil, {0x3d}, {0x3d, 0xb8, 0xf3}, []byte("plain firmware, no header at all"), {0x96, 0xf3, 0xb8, 0x3d, 0, 0, 0, 0}} {
		h, ok, err := ReadImageHeader(bytes.NewReader(in))
		if ok || err != nil || h != (ImageHeader{}) {
			t.Errorf("ReadImageHeader(%x) = %+v, %v, %v; want not MCUboot", in, h, ok, err)
		}
	}
}

func TestReadImageHeaderBroken(t *testing.T) {
	full := EncodeImageHeader(ImageHeader{HeaderSize: 0x200, Major: 1})
	if _, ok, err := ReadImageHeader(bytes.NewReader(full[:20])); !ok || err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("truncated header: ok %v err %v", ok, err)
	}
	small := EncodeImageHeader(ImageHeader{HeaderSize: 16})
	if _, ok, err := ReadImageHeader(bytes.NewReader(small)); !ok || err == nil || !strings.Contains(err.Error(), "below 32") {
		t.Errorf("small header size: ok %v err %v", ok, err)
	}
	if _, _, err := ReadImageHeader(failingReader{}); err == nil {
		t.Error("read error not reported")
	}
}

type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("disk on fire") }

// FuzzReadImageHeader: never panics, and a header it accepts encodes back
// to the bytes it came from (except the padding).
func FuzzReadImageHeader(f *testing.F) {
	f.Add(EncodeImageHeader(ImageHeader{HeaderSize: 0x200, ImageSize: 1000, Major: 1, Minor: 2, Revision: 3, Build: 4}))
	f.Add([]byte("not an image"))
	f.Add([]byte{0x3d, 0xb8, 0xf3, 0x96})
	f.Add(EncodeImageHeader(ImageHeader{HeaderSize: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok, err := ReadImageHeader(bytes.NewReader(b))
		if !ok || err != nil {
			return
		}
		if enc := EncodeImageHeader(h); !bytes.Equal(enc[:28], b[:28]) {
			t.Fatalf("re-encoded %x, read from %x", enc, b[:32])
		}
		for _, b := range []BuildNumber{BuildDrop, BuildDot} {
			if err := ValidateVersion(h.VersionWith(b)); err != nil {
				t.Fatalf("version %q is not a valid version: %v", h.VersionWith(b), err)
			}
		}
	})
}
