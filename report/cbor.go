package report

import (
	"errors"
	"math"
)

// The reader below takes the one shape a report has, a CBOR map (RFC 8949)
// of definite or indefinite length, and skips every key it does not know,
// whatever its type, without allocating for what it skips.

const maxCBORDepth = 16

var errTruncated = errors.New("truncated")

type cborReader struct {
	b []byte
	i int
}

// head reads an item's initial byte and argument. indef is true for the
// indefinite-length marker (additional information 31).
func (c *cborReader) head() (major byte, arg uint64, indef bool, err error) {
	if c.i >= len(c.b) {
		return 0, 0, false, errTruncated
	}
	ib := c.b[c.i]
	c.i++
	major, ai := ib>>5, ib&0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), false, nil
	case ai <= 27:
		n := 1 << (ai - 24)
		if len(c.b)-c.i < n {
			return 0, 0, false, errTruncated
		}
		for _, x := range c.b[c.i : c.i+n] {
			arg = arg<<8 | uint64(x)
		}
		c.i += n
		if major == 7 && ai == 24 && arg < 32 {
			return 0, 0, false, errors.New("simple value in two bytes below 32")
		}
		return major, arg, false, nil
	case ai == 31:
		switch major {
		case 2, 3, 4, 5, 7:
			return major, 0, true, nil
		}
	}
	return 0, 0, false, errors.New("reserved additional information")
}

// isBreak consumes the "break" stop code if it comes next.
func (c *cborReader) isBreak() (bool, error) {
	if c.i >= len(c.b) {
		return false, errTruncated
	}
	if c.b[c.i] == 0xff {
		c.i++
		return true, nil
	}
	return false, nil
}

// bytesOf reads the content of a definite byte or text string of n bytes.
func (c *cborReader) bytesOf(n uint64) ([]byte, error) {
	if n > uint64(len(c.b)-c.i) {
		return nil, errTruncated
	}
	s := c.b[c.i : c.i+int(n)]
	c.i += int(n)
	return s, nil
}

// chunks reads the chunks of an indefinite string of the given major type,
// appending them to dst when it is not nil.
func (c *cborReader) chunks(major byte, dst []byte) ([]byte, error) {
	for {
		if brk, err := c.isBreak(); err != nil || brk {
			return dst, err
		}
		m, n, indef, err := c.head()
		if err != nil {
			return nil, err
		}
		if m != major || indef {
			return nil, errors.New("bad chunk in an indefinite-length string")
		}
		s, err := c.bytesOf(n)
		if err != nil {
			return nil, err
		}
		if dst != nil {
			dst = append(dst, s...)
		}
	}
}

// skip passes over one well-formed item whose head is already read.
func (c *cborReader) skip(major byte, arg uint64, indef bool, depth int) error {
	if depth > maxCBORDepth {
		return errors.New("nested too deep")
	}
	switch major {
	case 0, 1:
		return nil
	case 2, 3:
		if indef {
			_, err := c.chunks(major, nil)
			return err
		}
		_, err := c.bytesOf(arg)
		return err
	case 4, 5:
		items := arg
		if major == 5 {
			if items > math.MaxUint64/2 {
				return errTruncated
			}
			items *= 2
		}
		for n := uint64(0); indef || n < items; n++ {
			if indef {
				if brk, err := c.isBreak(); err != nil || brk {
					if err == nil && major == 5 && n%2 == 1 {
						return errors.New("map ends after a key")
					}
					return err
				}
			} else if items-n > uint64(len(c.b)-c.i) {
				return errTruncated // every item takes at least a byte
			}
			if err := c.item(depth + 1); err != nil {
				return err
			}
		}
		return nil
	case 6:
		return c.item(depth + 1)
	default: // 7: simple values and floats; the head holds them whole
		if indef {
			return errors.New("unexpected break")
		}
		return nil
	}
}

// item reads and passes over one item.
func (c *cborReader) item(depth int) error {
	major, arg, indef, err := c.head()
	if err != nil {
		return err
	}
	return c.skip(major, arg, indef, depth)
}

// text reads a text string whose head is already read.
func (c *cborReader) text(arg uint64, indef bool) (string, error) {
	if indef {
		s, err := c.chunks(3, make([]byte, 0, 16))
		return string(s), err
	}
	s, err := c.bytesOf(arg)
	return string(s), err
}

// decodeCBOR reads a report map into w.
func decodeCBOR(p []byte, w *wire) error {
	c := &cborReader{b: p}
	major, pairs, indef, err := c.head()
	if err != nil {
		return cborError(c, err)
	}
	if major != 5 {
		return malformed("CBOR: not a map")
	}
	for n := uint64(0); indef || n < pairs; n++ {
		if indef {
			brk, err := c.isBreak()
			if err != nil {
				return cborError(c, err)
			}
			if brk {
				break
			}
		} else if pairs-n > uint64(len(c.b)-c.i)/2 {
			return cborError(c, errTruncated)
		}
		if err := c.pair(w); err != nil {
			return err
		}
	}
	if c.i != len(c.b) {
		return malformed("CBOR: %d bytes after the report map", len(c.b)-c.i)
	}
	return nil
}

func cborError(c *cborReader, err error) error {
	return malformed("CBOR: %v at byte %d", err, c.i)
}

// pair reads one key and its value, keeping the value when the key is one
// of a report's.
func (c *cborReader) pair(w *wire) error {
	major, arg, indef, err := c.head()
	if err != nil {
		return cborError(c, err)
	}
	var key []byte
	switch {
	case major == 3 && !indef:
		key, err = c.bytesOf(arg)
	case major == 3:
		key, err = c.chunks(3, make([]byte, 0, 8))
	default:
		err = c.skip(major, arg, indef, 1)
	}
	if err != nil {
		return cborError(c, err)
	}
	if name, i, s := w.slot(key); name != "" {
		return c.value(name, i, s)
	}
	if err := c.item(1); err != nil {
		return cborError(c, err)
	}
	return nil
}

// value reads the value of key into i, for an integer key, or into s, for
// a text key; null and undefined leave the key absent.
func (c *cborReader) value(key string, i *optInt, s *optString) error {
	major, arg, indef, err := c.head()
	if err != nil {
		return cborError(c, err)
	}
	switch {
	case major == 7 && !indef && (arg == 22 || arg == 23): // null, undefined
		if i != nil {
			*i = optInt{}
		} else {
			*s = optString{}
		}
	case i != nil && major == 0 && !indef:
		if arg > math.MaxInt32 {
			return malformed("%s %d is out of range", key, arg)
		}
		*i = optInt{int64(arg), true}
	case i != nil && major == 1 && !indef:
		if arg > math.MaxInt32 {
			return malformed("%s -1-%d is out of range", key, arg)
		}
		*i = optInt{-1 - int64(arg), true}
	case s != nil && major == 3:
		text, err := c.text(arg, indef)
		if err != nil {
			return cborError(c, err)
		}
		*s = optString{text, true}
	default:
		if err := c.skip(major, arg, indef, 1); err != nil {
			return cborError(c, err)
		}
		want := "an integer"
		if s != nil {
			want = "a text string"
		}
		return malformed("%q is CBOR major type %d, not %s", key, major, want)
	}
	return nil
}
