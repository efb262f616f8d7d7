package report

import "math"

// scanJSON decodes the JSON object devices send, a flat map of short keys
// to small integers and plain strings, without encoding/json's generic
// machinery. It accepts only a subset of what decodeJSONStd accepts, and
// for that subset fills w exactly as decodeJSONStd would: the object, with
// only whitespace after it; keys and string values of printable ASCII
// without escapes; values that are such strings, integers without
// fraction or exponent that fit in 32 bits, null, true or false; the last
// of repeated keys counts. For anything else, including every payload
// decodeJSONStd refuses, it returns false, leaving w in any state, and the
// caller starts again with decodeJSONStd.
func scanJSON(p []byte, w *wire) bool {
	i := skipSpace(p, 0)
	if i == len(p) || p[i] != '{' {
		return false
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return skipSpace(p, i+1) == len(p)
	}
	for {
		key, j, ok := scanString(p, i)
		if !ok {
			return false
		}
		i = skipSpace(p, j)
		if i == len(p) || p[i] != ':' {
			return false
		}
		i = skipSpace(p, i+1)
		if i, ok = scanValue(p, i, key, w); !ok {
			return false
		}
		i = skipSpace(p, i)
		if i == len(p) {
			return false
		}
		switch p[i] {
		case ',':
			i = skipSpace(p, i+1)
		case '}':
			return skipSpace(p, i+1) == len(p)
		default:
			return false
		}
	}
}

// skipSpace skips JSON whitespace from i.
func skipSpace(p []byte, i int) int {
	for i < len(p) {
		switch p[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString reads the string at i when it holds only printable ASCII
// without escapes, and returns its contents and the index after it.
func scanString(p []byte, i int) (s []byte, next int, ok bool) {
	if i == len(p) || p[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(p); j++ {
		switch c := p[j]; {
		case c == '"':
			return p[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, j, false
		}
	}
	return nil, len(p), false
}

// scanValue reads the value at i for key into w and returns the index
// after it; ok is false for a value outside scanJSON's subset or of the
// wrong type for a known key.
func scanValue(p []byte, i int, key []byte, w *wire) (next int, ok bool) {
	if i == len(p) {
		return i, false
	}
	_, ints, strs := w.slot(key)
	switch c := p[i]; {
	case c == '"':
		s, j, ok := scanString(p, i)
		if !ok || ints != nil {
			return j, false
		}
		if strs != nil {
			*strs = optString{string(s), true}
		}
		return j, true
	case c == '-' || ('0' <= c && c <= '9'):
		n, j, ok := scanInt(p, i)
		if !ok || strs != nil {
			return j, false
		}
		if ints != nil {
			*ints = optInt{n, true}
		}
		return j, true
	case c == 'n':
		if !hasLiteral(p, i, "null") {
			return i, false
		}
		if ints != nil {
			*ints = optInt{}
		}
		if strs != nil {
			*strs = optString{}
		}
		return i + 4, true
	case c == 't' || c == 'f':
		lit := "true"
		if c == 'f' {
			lit = "false"
		}
		if !hasLiteral(p, i, lit) || ints != nil || strs != nil {
			return i, false
		}
		return i + len(lit), true
	}
	return i, false
}

// scanInt reads -?(0|[1-9][0-9]*) at i, when it fits in 32 bits. What
// follows is the caller's to check: a fraction or an exponent is not a
// delimiter, so it sends the payload to decodeJSONStd.
func scanInt(p []byte, i int) (n int64, next int, ok bool) {
	neg := p[i] == '-'
	if neg {
		i++
	}
	start := i
	for i < len(p) && '0' <= p[i] && p[i] <= '9' {
		if i-start == 10 {
			return 0, i, false
		}
		n = n*10 + int64(p[i]-'0')
		i++
	}
	digits := i - start
	if digits == 0 || (digits > 1 && p[start] == '0') {
		return 0, i, false
	}
	if neg {
		n = -n
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, i, false
	}
	return n, i, true
}

func hasLiteral(p []byte, i int, lit string) bool {
	return len(p)-i >= len(lit) && string(p[i:i+len(lit)]) == lit
}
