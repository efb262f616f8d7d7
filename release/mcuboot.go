package release

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MCUbootMagic opens an MCUboot image header, little endian.
const MCUbootMagic = 0x96f3b83d

// ImageHeaderSize is the size of the fixed MCUboot image header.
const ImageHeaderSize = 32

// ImageHeader is MCUboot's struct image_header (bootutil/image.h): magic,
// load address, header size, protected TLV size, image size, flags and the
// image version.
type ImageHeader struct {
	LoadAddr       uint32
	HeaderSize     uint16
	ProtectTLVSize uint16
	ImageSize      uint32
	Flags          uint32
	Major, Minor   uint8
	Revision       uint16
	Build          uint32
}

// Version is the image version as imgtool writes it: "major.minor.revision",
// and "+build" after it when build is not 0 (imgtool sign --version 1.2.3+4).
// It names the image in messages; a component's version never holds '+'
// (VersionWith).
func (h ImageHeader) Version() string {
	v := h.ShortVersion()
	if h.Build != 0 {
		v += "+" + strconv.FormatUint(uint64(h.Build), 10)
	}
	return v
}

// ShortVersion is "major.minor.revision" without the build number, the
// form Zephyr's own update clients (hawkBit, UpdateHub) and the Golioth
// SDK's samples report.
func (h ImageHeader) ShortVersion() string {
	return strconv.Itoa(int(h.Major)) + "." + strconv.Itoa(int(h.Minor)) + "." + strconv.Itoa(int(h.Revision))
}

// BuildNumber says how the build number of an MCUboot header enters a
// component version, which never holds '+' (docs/protocol.md#mcuboot-versions).
type BuildNumber string

// The ways a build number enters a version.
const (
	// BuildDrop leaves it out: 1.2.3+4 is published as 1.2.3, the
	// version Zephyr's update clients and the Golioth SDK's samples
	// report. The default.
	BuildDrop BuildNumber = "drop"
	// BuildDot makes it a fourth number: 1.2.3+4 is 1.2.3.4, and 1.2.3
	// (build 0) is 1.2.3.0, for devices that report the build number.
	BuildDot BuildNumber = "dot"
)

// ParseBuildNumber reads a BuildNumber: drop or dot; "" is drop.
func ParseBuildNumber(s string) (BuildNumber, error) {
	switch BuildNumber(s) {
	case "", BuildDrop:
		return BuildDrop, nil
	case BuildDot:
		return BuildDot, nil
	}
	return "", fmt.Errorf("build number mapping %q: want drop (1.2.3+4 becomes 1.2.3) or dot (1.2.3.4)", s)
}

// VersionWith is the image version as a component version, its build
// number mapped by b ("" is BuildDrop).
func (h ImageHeader) VersionWith(b BuildNumber) string {
	if b == BuildDot {
		return h.ShortVersion() + "." + strconv.FormatUint(uint64(h.Build), 10)
	}
	return h.ShortVersion()
}

// ReadImageHeader reads the MCUboot header at the start of r. ok is false,
// with no error, when the image does not start with MCUbootMagic. An image
// that has the magic but is cut short, or whose header size is below 32,
// is an error.
func ReadImageHeader(r io.ReaderAt) (ImageHeader, bool, error) {
	var b [ImageHeaderSize]byte
	n, err := r.ReadAt(b[:], 0)
	if n < 4 || binary.LittleEndian.Uint32(b[0:4]) != MCUbootMagic {
		if err != nil && !errors.Is(err, io.EOF) {
			return ImageHeader{}, false, fmt.Errorf("read image header: %w", err)
		}
		return ImageHeader{}, false, nil
	}
	if n < ImageHeaderSize {
		if err == nil || errors.Is(err, io.EOF) {
			return ImageHeader{}, true, fmt.Errorf("MCUboot image header cut short: %d of %d bytes", n, ImageHeaderSize)
		}
		return ImageHeader{}, true, fmt.Errorf("read image header: %w", err)
	}
	h := ImageHeader{
		LoadAddr:       binary.LittleEndian.Uint32(b[4:8]),
		HeaderSize:     binary.LittleEndian.Uint16(b[8:10]),
		ProtectTLVSize: binary.LittleEndian.Uint16(b[10:12]),
		ImageSize:      binary.LittleEndian.Uint32(b[12:16]),
		Flags:          binary.LittleEndian.Uint32(b[16:20]),
		Major:          b[20],
		Minor:          b[21],
		Revision:       binary.LittleEndian.Uint16(b[22:24]),
		Build:          binary.LittleEndian.Uint32(b[24:28]),
	}
	if h.HeaderSize < ImageHeaderSize {
		return h, true, fmt.Errorf("MCUboot image header size %d is below %d", h.HeaderSize, ImageHeaderSize)
	}
	return h, true, nil
}

// EncodeImageHeader encodes h as the 32-byte MCUboot image header, magic
// first and padding zero.
func EncodeImageHeader(h ImageHeader) []byte {
	b := make([]byte, ImageHeaderSize)
	binary.LittleEndian.PutUint32(b[0:4], MCUbootMagic)
	binary.LittleEndian.PutUint32(b[4:8], h.LoadAddr)
	binary.LittleEndian.PutUint16(b[8:10], h.HeaderSize)
	binary.LittleEndian.PutUint16(b[10:12], h.ProtectTLVSize)
	binary.LittleEndian.PutUint32(b[12:16], h.ImageSize)
	binary.LittleEndian.PutUint32(b[16:20], h.Flags)
	b[20] = h.Major
	b[21] = h.Minor
	binary.LittleEndian.PutUint16(b[22:24], h.Revision)
	binary.LittleEndian.PutUint32(b[24:28], h.Build)
	return b
}
