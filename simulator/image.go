package simulator

import (
	"crypto/sha256"
	"encoding"
	"hash"
)

// streamedImage is a component as it is downloaded: never held, only counted and
// hashed as its bytes arrive, as a device writes them to flash. corruptAt,
// when not negative, is the offset of a byte that an injected integrity
// failure flips on its way to flash. As a Sink of a download in blocks it
// goes back to the end of the last block verified when a block fails.
type streamedImage struct {
	sum       *markedSum
	n         int64
	corruptAt int64
	markN     int64
}

func newImage(corruptAt int64) *streamedImage {
	return &streamedImage{sum: newMarkedSum(), corruptAt: corruptAt}
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

// Commit keeps what was written so far: a block was verified.
func (im *streamedImage) Commit() {
	im.sum.Commit()
	im.markN = im.n
}

// Rewind takes back what was written since the last Commit: the flash
// past the last block verified is written again.
func (im *streamedImage) Rewind() {
	im.sum.Rewind()
	im.n = im.markN
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

// markedSum is a SHA-256 that can go back to the state it had at its last
// Commit (its state is about 100 bytes: a block's bytes are never kept).
type markedSum struct {
	hash.Hash
	mark []byte
}

func newMarkedSum() *markedSum { return &markedSum{Hash: sha256.New()} }

// Commit marks the state to go back to.
func (s *markedSum) Commit() {
	s.mark, _ = s.Hash.(encoding.BinaryMarshaler).MarshalBinary() // crypto/sha256 cannot fail
}

// Rewind goes back to the last Commit (to the start when there was none).
func (s *markedSum) Rewind() {
	if s.mark == nil {
		s.Reset()
		return
	}
	_ = s.Hash.(encoding.BinaryUnmarshaler).UnmarshalBinary(s.mark) // its own state
}
