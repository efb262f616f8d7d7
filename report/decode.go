package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/otactl/otactl/protocol"
)

// MaxPayload is the largest report payload Decode reads, in bytes. The
// device SDK's reports fit in 64 bytes; anything this large is not a report.
const MaxPayload = 64 << 10

// MaxField is the longest package, version or target Decode accepts, in
// bytes (the naming rules of docs/protocol.md#names).
const MaxField = 64

var (
	// ErrEmpty is returned for an empty payload: the device's retained
	// report was cleared, and whoever keeps its state should forget it.
	ErrEmpty = errors.New("empty report: the retained report was cleared")

	// ErrMalformed is wrapped by every error for a payload or topic that is
	// not a report.
	ErrMalformed = errors.New("malformed report")
)

// MalformedError is a payload or topic that is not a report. It wraps
// ErrMalformed; Why says what is wrong, for a message that names the
// report in its own words.
type MalformedError struct {
	Why string
}

func (e *MalformedError) Error() string { return ErrMalformed.Error() + ": " + e.Why }
func (e *MalformedError) Unwrap() error { return ErrMalformed }

func malformed(format string, args ...any) error {
	return &MalformedError{Why: fmt.Sprintf(format, args...)}
}

// Why is what is wrong with a message that is not a report: a
// MalformedError's Why, else err's whole text.
func Why(err error) string {
	var me *MalformedError
	if errors.As(err, &me) {
		return me.Why
	}
	return err.Error()
}

type optInt struct {
	v  int64
	ok bool
}

type optString struct {
	v  string
	ok bool
}

// The keys of a report map: each field's long key, then its short one.
var (
	intKeys  = [...]string{"state", "s", "reason", "r"}
	textKeys = [...]string{"package", "pkg", "version", "v", "target", "t"}
)

// wire holds the values of a report map's keys as received, each at its
// key's index in intKeys or textKeys.
type wire struct {
	ints  [len(intKeys)]optInt
	texts [len(textKeys)]optString
}

// slot is where the value of key goes, an integer key's or a text key's,
// and the key's name; both places are nil for a key that is not a report's.
func (w *wire) slot(key []byte) (name string, i *optInt, s *optString) {
	// A switch, not a loop over the key lists: it keeps Decode a quarter
	// faster (BenchmarkDecode).
	switch string(key) {
	case "state":
		return "state", &w.ints[0], nil
	case "s":
		return "s", &w.ints[1], nil
	case "reason":
		return "reason", &w.ints[2], nil
	case "r":
		return "r", &w.ints[3], nil
	case "package":
		return "package", nil, &w.texts[0]
	case "pkg":
		return "pkg", nil, &w.texts[1]
	case "version":
		return "version", nil, &w.texts[2]
	case "v":
		return "v", nil, &w.texts[3]
	case "target":
		return "target", nil, &w.texts[4]
	case "t":
		return "t", nil, &w.texts[5]
	}
	return "", nil, nil
}

// Decode reads a report payload: a JSON object or a CBOR map (definite or
// indefinite length) with long keys (state, reason, package, version,
// target) or short ones (s, r, pkg, v, t); with both, the long key counts.
// Missing state and reason are 0, as in the seed protocol; a missing
// package, version or target is left empty; other keys are ignored. An
// empty payload returns ErrEmpty; any other payload that is not a report
// returns an error wrapping ErrMalformed. Device, Topic and Received are
// left for the caller (see FromMessage).
func Decode(payload []byte) (Report, error) {
	if len(payload) == 0 {
		return Report{}, ErrEmpty
	}
	if len(payload) > MaxPayload {
		return Report{}, malformed("payload of %d bytes is over the %d-byte limit", len(payload), MaxPayload)
	}
	var w wire
	text := trimJSONStart(payload)
	switch {
	case len(text) > 0 && text[0] == '{':
		if err := decodeJSON(text, &w); err != nil {
			return Report{}, err
		}
	case payload[0]>>5 == 5: // CBOR major type 5: a map
		if err := decodeCBOR(payload, &w); err != nil {
			return Report{}, err
		}
	default:
		return Report{}, malformed("payload is neither a JSON object nor a CBOR map (first byte 0x%02x)", payload[0])
	}
	return w.report()
}

// trimJSONStart drops a UTF-8 byte order mark and whitespace from the
// start of a payload: what a JSON report may begin with.
func trimJSONStart(payload []byte) []byte {
	return bytes.TrimLeft(bytes.TrimPrefix(payload, []byte("\xef\xbb\xbf")), " \t\r\n")
}

func (w *wire) report() (Report, error) {
	var r Report
	r.State = State(w.int(0))   // state, s
	r.Reason = Reason(w.int(1)) // reason, r
	var err error
	if r.Package, err = w.text(0); err != nil { // package, pkg
		return Report{}, err
	}
	if r.Version, err = w.text(1); err != nil { // version, v
		return Report{}, err
	}
	if r.Target, err = w.text(2); err != nil { // target, t
		return Report{}, err
	}
	return r, nil
}

// int is the value of the nth integer field: its long key's over its
// short key's; absent is 0.
func (w *wire) int(n int) int {
	if long := w.ints[2*n]; long.ok {
		return int(long.v)
	}
	return int(w.ints[2*n+1].v)
}

// text is the value of the nth text field, its long key's over its short
// key's, checked to be text that can be shown safely.
func (w *wire) text(n int) (string, error) {
	name, long, s := textKeys[2*n], w.texts[2*n], w.texts[2*n+1].v
	if long.ok {
		s = long.v
	}
	if len(s) > MaxField {
		return "", malformed("%s of %d bytes is over the %d-byte limit", name, len(s), MaxField)
	}
	if !utf8.ValidString(s) {
		return "", malformed("%s is not UTF-8", name)
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return "", malformed("%s %q holds a character that cannot be shown", name, s)
		}
	}
	return s, nil
}

// decodeJSON reads a JSON report into w. The flat objects devices send
// take scanJSON's fast path; anything else (escapes, non-ASCII text,
// nested values, fractions, errors of every kind) goes through
// encoding/json, which decides what is accepted and what each error says.
func decodeJSON(p []byte, w *wire) error {
	if scanJSON(p, w) {
		return nil
	}
	*w = wire{}
	return decodeJSONStd(p, w)
}

// decodeJSONStd reads a JSON report with encoding/json: the reference for
// what a JSON report is.
func decodeJSONStd(p []byte, w *wire) error {
	if !utf8.Valid(p) {
		return malformed("JSON is not UTF-8")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(p, &keys); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) && strings.Contains(syntax.Error(), "after top-level value") {
			return malformed("JSON: data after the report object")
		}
		return malformed("JSON: %v", err)
	}
	for _, k := range append(intKeys[:], textKeys[:]...) {
		raw, ok := keys[k]
		if !ok {
			continue
		}
		var err error
		if _, i, s := w.slot([]byte(k)); i != nil {
			err = jsonInt(k, raw, i)
		} else {
			err = jsonString(k, raw, s)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func jsonInt(key string, raw json.RawMessage, dst *optInt) error {
	if raw == nil || string(raw) == "null" {
		*dst = optInt{}
		return nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return malformed("%q is %.20s, not an integer", key, raw)
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return malformed("%s %d is out of range", key, n)
	}
	*dst = optInt{n, true}
	return nil
}

func jsonString(key string, raw json.RawMessage, dst *optString) error {
	if raw == nil || string(raw) == "null" {
		*dst = optString{}
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return malformed("%q is %.20s, not a string", key, raw)
	}
	*dst = optString{s, true}
	return nil
}

// FromMessage reads the report a device published on topic under topics:
// device and package come from the topic (protocol.Topics.ParseReport),
// the rest from the payload, which may leave the package out but must not
// name another one. Device, Package, Topic and Received are filled in
// whenever the topic is a report topic, even with an error, so that a
// caller can forget the device on ErrEmpty and name it when the report is
// malformed.
func FromMessage(topics protocol.Topics, topic string, payload []byte, received time.Time) (Report, error) {
	r := Report{Topic: topic, Received: received}
	device, pkg, ok := topics.ParseReport(topic)
	if !ok {
		return r, malformed("topic %q is not %sdevices/{device}/.u/c/{package}", topic, topics.Prefix())
	}
	r.Device, r.Package = device, pkg
	d, err := Decode(payload)
	if err != nil {
		return r, err
	}
	if d.Package != "" && d.Package != pkg {
		return r, malformed("package %q in the payload is not %q of the topic", d.Package, pkg)
	}
	d.Device, d.Package, d.Topic, d.Received = device, pkg, topic, received
	return d, nil
}
