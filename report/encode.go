package report

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Encode writes r as a device sends it: enc is "json" or "cbor"; short
// picks the keys s, r, pkg, v, t over state, reason, package, version,
// target. Keys come in that order and package, version and target are left
// out when empty. CBOR is an indefinite-length map, so with short keys the
// bytes are exactly the Golioth device SDK's. Device, Topic and Received are
// not part of a payload.
func Encode(r Report, enc string, short bool) ([]byte, error) {
	keys := [5]string{"state", "reason", "package", "version", "target"}
	if short {
		keys = [5]string{"s", "r", "pkg", "v", "t"}
	}
	texts := [3]string{r.Package, r.Version, r.Target}
	switch enc {
	case "json":
		b := make([]byte, 0, 64)
		b = append(b, '{')
		b = appendJSONKey(b, keys[0])
		b = strconv.AppendInt(b, int64(r.State), 10)
		b = append(b, ',')
		b = appendJSONKey(b, keys[1])
		b = strconv.AppendInt(b, int64(r.Reason), 10)
		for i, s := range texts {
			if s == "" {
				continue
			}
			b = append(b, ',')
			b = appendJSONKey(b, keys[2+i])
			q, err := json.Marshal(s)
			if err != nil {
				return nil, err
			}
			b = append(b, q...)
		}
		return append(b, '}'), nil
	case "cbor":
		b := make([]byte, 0, 64)
		b = append(b, 0xbf) // map of indefinite length
		b = appendCBORText(b, keys[0])
		b = appendCBORInt(b, int64(r.State))
		b = appendCBORText(b, keys[1])
		b = appendCBORInt(b, int64(r.Reason))
		for i, s := range texts {
			if s == "" {
				continue
			}
			b = appendCBORText(b, keys[2+i])
			b = appendCBORText(b, s)
		}
		return append(b, 0xff), nil
	}
	return nil, fmt.Errorf("unknown report encoding %q: use json or cbor", enc)
}

func appendJSONKey(b []byte, k string) []byte {
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func appendCBORHead(b []byte, major byte, n uint64) []byte {
	major <<= 5
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= 0xff:
		return append(b, major|24, byte(n))
	case n <= 0xffff:
		return append(b, major|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, major|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendCBORInt(b []byte, v int64) []byte {
	if v >= 0 {
		return appendCBORHead(b, 0, uint64(v))
	}
	return appendCBORHead(b, 1, uint64(-1-v))
}

func appendCBORText(b []byte, s string) []byte {
	b = appendCBORHead(b, 3, uint64(len(s)))
	return append(b, s...)
}
