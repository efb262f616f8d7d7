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
func (h ImageHeader) Version() string {
	v := strconv.Itoa(int(h.Major)) + "." + strconv.Itoa(int(h.Minor)) + "." + strconv.Itoa(int(h.Revision))
	if h.Build != 0 {
		v += "+" + strconv.FormatUint(uint64(h.Build), 10)
	}
	return v
}

// ShortVersion is "major.minor.revision" without the build number, the
// form Zephyr's own update clients (hawkBit, UpdateHub) report.
func (h ImageHeader) ShortVersion() string {
	return strconv.Itoa(int(h.Major)) + "." + strconv.Itoa(int(h.Minor)) + "." + strconv.Itoa(int(h.Revision))
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
