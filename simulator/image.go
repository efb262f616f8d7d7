package simulator

import (
	"crypto/sha256"
	"hash"
)

// streamedImage is a component as it is downloaded: never held, only counted and
// hashed as its bytes arrive, as a device writes them to flash. corruptAt,
// when not negative, is the offset of a byte that an injected integrity
// failure flips on its way to flash.
type streamedImage struct {
	sum       hash.Hash
	n         int64
	corruptAt int64
}

func newImage(corruptAt int64) *streamedImage {
	return &streamedImage{sum: sha256.New(), corruptAt: corruptAt}
}

func (im *streamedImage) Write(p []byte) (int, error) {
	if at := im.corruptAt - im.n; at >= 0 && at < int64(len(p)) {
		var b [1]byte
		im.sum.Write(p[:at])
		b[0] = p[at] ^ 0x5a
		im.sum.Write(b[:])
		im.sum.Write(p[at+1:])
	} else {
		im.sum.Write(p)
	}
	im.n += int64(len(p))
	return len(p), nil
}

// corruptFrom sets where this attempt's injected integrity failure flips
// a byte (none when at is negative): at the offset at, or at the next
// byte to come when the image has that many already (a resumed download).
func (im *streamedImage) corruptFrom(at int64) {
	im.corruptAt = at
	if at >= 0 {
		im.corruptAt = max(at, im.n)
	}
}
